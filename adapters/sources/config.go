package sources

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

// Defaults of GlobalSettings.
const (
	DefaultBufferSize    = 1024
	DefaultWorkerCount   = 4
	DefaultRetryAttempts = 5
	DefaultRetryBackoff  = time.Second
)

// Bounds of GlobalSettings.
const (
	MaxBufferSize    = 1 << 20
	MaxWorkerCount   = 256
	MaxRetryAttempts = 1000
	MaxRetryBackoff  = time.Hour
)

// Config is the event-watcher configuration: which sources run with which settings, how events
// flow into the pipeline, and the event mappings. LoadConfig reads it from its two files; an
// embedding operator may also build it in Go. The zero Config runs the sources that are enabled
// by default (the Kubernetes one and embedded ones) with the default global settings.
type Config struct {
	// File is where the configuration was read from; errors name it. Empty when built in Go.
	File string
	// MappingFile is the event-mappings file LoadConfig read Mappings from (as resolved:
	// relative to File's directory unless absolute).
	MappingFile string
	// PluginDirectory holds plugins: a source <name> that is not built in is loaded from
	// <PluginDirectory>/<name>.so.
	PluginDirectory string
	// EventSources enable, disable and configure sources by name.
	EventSources []SourceConfig
	// GlobalSettings tune the router; zero fields take the defaults.
	GlobalSettings GlobalSettings
	// Mappings translate sources' own names for their events into khook event types.
	Mappings []Mapping

	// lines remembers where each key was, by key path ("eventSources[1].settings"); mappings
	// paths ("mappings[0]") refer to MappingFile.
	lines map[string]int
}

// SourceConfig is one entry of eventSources.
type SourceConfig struct {
	// Name of a built-in, embedded or plugin source.
	Name string
	// PluginPath loads the source from this Go plugin instead of <pluginDirectory>/<name>.so.
	PluginPath string
	// Enabled turns the source on or off; nil means on (listing a source enables it).
	Enabled *bool
	// Settings are passed to the source's Init, ${VAR}s already expanded.
	Settings ports.Settings
}

// IsEnabled reports whether the entry turns its source on.
func (s SourceConfig) IsEnabled() bool { return s.Enabled == nil || *s.Enabled }

// GlobalSettings tune the router.
type GlobalSettings struct {
	// BufferSize is how many events may wait between the sources and the pipeline (default
	// 1024), split evenly between the workers; a full buffer makes sources wait.
	BufferSize int
	// WorkerCount is how many workers hand events to the pipeline at once (default 4). Events
	// of one dedup key always go through the same worker, in order.
	WorkerCount int
	// RetryAttempts is how many consecutive failures mark a source failed (default 5).
	RetryAttempts int
	// RetryBackoff is the first delay before restarting a failed source (default 1s); it
	// doubles with each consecutive failure, with jitter, up to 5m.
	RetryBackoff time.Duration
}

// WithDefaults returns g with zero fields set to the defaults.
func (g GlobalSettings) WithDefaults() GlobalSettings {
	if g.BufferSize == 0 {
		g.BufferSize = DefaultBufferSize
	}
	if g.WorkerCount == 0 {
		g.WorkerCount = DefaultWorkerCount
	}
	if g.RetryAttempts == 0 {
		g.RetryAttempts = DefaultRetryAttempts
	}
	if g.RetryBackoff == 0 {
		g.RetryBackoff = DefaultRetryBackoff
	}
	return g
}

// Mapping translates one kind of event of one source into what Hooks see: the design's
// EventMapping. It reads like event-mappings.yaml: "events of EventSource that the source
// calls InternalType are EventType events, with this Description, Severity and Tags".
type Mapping struct {
	// EventSource names the source.
	EventSource string
	// EventType is the khook event type Hooks name, such as "alert-firing" (lower-case words
	// joined by dashes); empty keeps the type the source gives. It becomes valid for Hooks and
	// belongs to EventSource.
	EventType event.Type
	// InternalType is the source's own name for the event (required, free-form, at most
	// MaxInternalTypeLength bytes): an alert's name (its alertname, event.Event.SourceType), a
	// kind the source declares in ports.SourceInfo.InternalTypes (Kubernetes' "PodRestart",
	// Prometheus' "PrometheusAlert", a plugin's), or one of the source's event types.
	InternalType string
	// Description, Severity and Tags are given to the event (templates see .Description,
	// .Severity and .Tags); empty ones leave the source's values.
	Description string
	Severity    string
	Tags        map[string]string
}

// MaxInternalTypeLength bounds Mapping.InternalType.
const MaxInternalTypeLength = 256

// ConfigError is one problem with the configuration, where it is.
type ConfigError struct {
	File    string // empty for a configuration built in Go
	Line    int    // 0 when unknown
	Key     string // the key path, such as globalSettings.retryBackoff or mappings[2].eventType
	Problem string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

// where returns the file and line of key path p.
func (c *Config) where(p string) (string, int) {
	file := c.File
	if strings.HasPrefix(p, "mappings") {
		file = c.MappingFile
		if file == "" {
			file = c.File
		}
	}
	for {
		if line, ok := c.lines[p]; ok {
			return file, line
		}
		// A missing key has no line: use its parent's.
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			return file, 0
		}
		p = p[:i]
	}
}

func (c *Config) errorf(p string, format string, args ...any) error {
	file, line := c.where(p)
	return &ConfigError{File: file, Line: line, Key: p, Problem: fmt.Sprintf(format, args...)}
}

// sourceNameFormat is the shape of a source name: it names plugins' files, metrics and logs.
var sourceNameFormat = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// Validate reports what is wrong with c, each problem naming the file, line and key when c was
// loaded from files. LoadConfig calls it; NewRouter calls it for configurations built in Go.
func (c *Config) Validate() error {
	var errs []error
	seen := map[string]int{}
	for i, s := range c.EventSources {
		p := fmt.Sprintf("eventSources[%d]", i)
		switch {
		case s.Name == "":
			errs = append(errs, c.errorf(p+".name", "is required"))
		case !sourceNameFormat.MatchString(s.Name):
			errs = append(errs, c.errorf(p+".name", "%q is not lower-case words joined by dashes", s.Name))
		default:
			if j, dup := seen[s.Name]; dup {
				_, line := c.where(fmt.Sprintf("eventSources[%d]", j))
				errs = append(errs, c.errorf(p+".name", "source %q is listed twice (first %s)", s.Name, at(j, line, "eventSources")))
			} else {
				seen[s.Name] = i
			}
		}
	}
	g := c.GlobalSettings
	for _, f := range []struct {
		key      string
		v, limit int
	}{{"bufferSize", g.BufferSize, MaxBufferSize}, {"workerCount", g.WorkerCount, MaxWorkerCount}, {"retryAttempts", g.RetryAttempts, MaxRetryAttempts}} {
		if f.v < 0 || f.v > f.limit {
			errs = append(errs, c.errorf("globalSettings."+f.key, "%d is not between 1 and %d", f.v, f.limit))
		}
	}
	if g.RetryBackoff < 0 || g.RetryBackoff > MaxRetryBackoff {
		errs = append(errs, c.errorf("globalSettings.retryBackoff", "%s is not between 1ms and %s", g.RetryBackoff, MaxRetryBackoff))
	}
	type mapKey struct{ source, own string }
	mapped := map[mapKey]int{}
	for i, m := range c.Mappings {
		p := fmt.Sprintf("mappings[%d]", i)
		if m.EventSource == "" {
			errs = append(errs, c.errorf(p+".eventSource", "is required"))
		}
		errs = append(errs, c.mappingErrors(p, m)...)
		if m.EventSource == "" || m.InternalType == "" {
			continue
		}
		k := mapKey{m.EventSource, m.InternalType}
		if j, dup := mapped[k]; dup {
			_, line := c.where(fmt.Sprintf("mappings[%d]", j))
			errs = append(errs, c.errorf(p, "duplicate mapping for eventSource %q internalType %q (first %s)", m.EventSource, m.InternalType, at(j, line, "mappings")))
		} else {
			mapped[k] = i
		}
	}
	return errors.Join(errs...)
}

// oldSpelling explains the mapping keys to a file written for khook before they followed the
// design, when eventType held the source's own name and internalType the khook event type.
const oldSpelling = "(eventType is the type Hooks use, internalType the source's own name)"

// mappingErrors checks m's eventType and internalType. A file in the spelling of earlier khook
// releases (the two keys the other way round) is told what to swap.
func (c *Config) mappingErrors(p string, m Mapping) []error {
	var typeErr error
	if m.EventType != "" {
		typeErr = m.EventType.Validate()
	}
	ownIsType := m.InternalType != "" && event.Type(m.InternalType).Validate() == nil
	switch {
	case typeErr != nil && ownIsType:
		return []error{c.errorf(p, "eventType %q is not a khook event type (lower-case words joined by dashes), and internalType %q is one: "+
			"this looks like the old spelling: swap eventType and internalType %s", m.EventType, m.InternalType, oldSpelling)}
	case typeErr != nil && m.InternalType == "":
		return []error{c.errorf(p, "eventType %q is not a khook event type (lower-case words joined by dashes), and internalType is missing: "+
			"this looks like the old spelling, where eventType held the source's own name: rename eventType to internalType %s", m.EventType, oldSpelling)}
	}
	var errs []error
	if typeErr != nil {
		errs = append(errs, c.errorf(p+".eventType", "%v", typeErr))
	}
	switch own := m.InternalType; {
	case own == "" && m.EventType != "":
		errs = append(errs, c.errorf(p+".internalType", "is required: the source's own name for the event (an alert's name, a kind such as PodRestart); "+
			"in a file written for an earlier khook, where eventType held it, rename eventType to internalType %s", oldSpelling))
	case own == "":
		errs = append(errs, c.errorf(p+".internalType", "is required: the source's own name for the event (an alert's name, a kind such as PodRestart)"))
	case len(own) > MaxInternalTypeLength:
		errs = append(errs, c.errorf(p+".internalType", "%q is longer than %d bytes", own[:32]+"…", MaxInternalTypeLength))
	case strings.TrimSpace(own) != own:
		errs = append(errs, c.errorf(p+".internalType", "%q has leading or trailing spaces", own))
	case strings.IndexFunc(own, unicode.IsControl) >= 0 || !utf8.ValidString(own):
		errs = append(errs, c.errorf(p+".internalType", "%q holds control characters or invalid UTF-8", own))
	}
	return errs
}

// at describes where entry i of list is: "at line 7" when known, else "at list[i]".
func at(i, line int, list string) string {
	if line > 0 {
		return fmt.Sprintf("at line %d", line)
	}
	return fmt.Sprintf("at %s[%d]", list, i)
}

// LookupEnv reads an environment variable; os.LookupEnv is one.
type LookupEnv func(name string) (string, bool)

// LoadConfig reads the event-watcher configuration at path and the mapping file it names
// (relative to path's directory unless absolute), expanding ${VAR} in the settings of enabled
// sources with lookup (an unset or empty variable is an error; $${ stands for a literal ${; a
// disabled source's settings are kept as written). Every problem is reported, each naming the
// file, line and key.
func LoadConfig(path string, lookup LookupEnv) (*Config, error) {
	return loadConfig(openOS, path, lookup)
}

// LoadConfigFS is LoadConfig reading both files from fsys, which stands for the root of the
// filesystem the files were written for: a path, absolute or not, is looked up in fsys
// without its leading "/" ("/etc/khook/event-mappings.yaml" is "etc/khook/event-mappings.yaml"
// of fsys). Errors name the paths as the files give them. It lets a test, or an embedding
// operator that keeps the files elsewhere, load files written for /etc/khook as they are.
func LoadConfigFS(fsys fs.FS, path string, lookup LookupEnv) (*Config, error) {
	return loadConfig(openFS(fsys), path, lookup)
}

// opener opens a configuration file by the path the configuration gives.
type opener func(path string) (io.ReadCloser, error)

func openOS(path string) (io.ReadCloser, error) { return os.Open(path) }

func openFS(fsys fs.FS) opener {
	return func(path string) (io.ReadCloser, error) {
		name := strings.TrimPrefix(filepath.ToSlash(filepath.Clean(path)), "/")
		if name == "" {
			name = "."
		}
		f, err := fsys.Open(name)
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, &fs.PathError{Op: pe.Op, Path: path, Err: pe.Err} // named as the file gives it
		}
		return f, err
	}
}

func loadConfig(open opener, path string, lookup LookupEnv) (*Config, error) {
	root, err := readYAML(open, path)
	if err != nil {
		return nil, err
	}
	c := &Config{File: path, lines: map[string]int{}}
	d := &decoder{file: path, lines: c.lines, lookup: lookup}
	dir := filepath.Dir(path)
	if root != nil {
		d.fields(root, "", []string{"mappingFile", "pluginDirectory", "eventSources", "globalSettings"}, func(key string, v *yaml.Node) {
			switch key {
			case "mappingFile":
				c.MappingFile = relativeTo(dir, d.str(v, key))
			case "pluginDirectory":
				c.PluginDirectory = relativeTo(dir, d.str(v, key))
			case "eventSources":
				d.list(v, key, func(p string, item *yaml.Node) {
					c.EventSources = append(c.EventSources, d.source(item, p, dir))
				})
			case "globalSettings":
				c.GlobalSettings = d.global(v, key)
			}
		})
	}
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	if c.MappingFile != "" {
		mappings, lines, err := loadMappings(open, c.MappingFile)
		var notRead *fs.PathError
		if errors.As(err, &notRead) {
			return nil, c.errorf("mappingFile", "%v", err)
		}
		if err != nil {
			return nil, err
		}
		c.Mappings = mappings
		for k, v := range lines {
			c.lines[k] = v
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadMappings reads an event-mappings file.
func LoadMappings(path string) ([]Mapping, error) {
	m, lines, err := loadMappings(openOS, path)
	if err != nil {
		return nil, err
	}
	c := &Config{File: path, MappingFile: path, Mappings: m, lines: lines}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

func loadMappings(open opener, path string) ([]Mapping, map[string]int, error) {
	root, err := readYAML(open, path)
	if err != nil {
		return nil, nil, err
	}
	lines := map[string]int{}
	d := &decoder{file: path, lines: lines}
	var out []Mapping
	if root != nil {
		d.fields(root, "", []string{"mappings"}, func(key string, v *yaml.Node) {
			d.list(v, key, func(p string, item *yaml.Node) {
				out = append(out, d.mapping(item, p))
			})
		})
	}
	if len(d.errs) > 0 {
		return nil, nil, errors.Join(d.errs...)
	}
	return out, lines, nil
}

// readYAML parses the single YAML document at path; nil for an empty file.
func readYAML(open opener, path string) (*yaml.Node, error) {
	f, err := open(path)
	if err != nil {
		return nil, err // names the file
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlError(path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			return nil, yamlError(path, err)
		}
		return nil, &ConfigError{File: path, Line: line, Problem: "more than one YAML document; put everything in one"}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlError turns the YAML parser's "yaml: line 3: problem" into the file:line form.
func yamlError(path string, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &ConfigError{File: path, Line: line, Problem: msg[len(m[0]):]}
	}
	return &ConfigError{File: path, Problem: strings.TrimPrefix(msg, "yaml: ")}
}

func relativeTo(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
