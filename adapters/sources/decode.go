package sources

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

// decoder reads the configuration files from YAML nodes, so that every problem can name its
// line, and collects the problems.
type decoder struct {
	file   string
	lines  map[string]int
	lookup LookupEnv
	errs   []error
}

func (d *decoder) errorf(n *yaml.Node, key string, format string, args ...any) {
	d.errs = append(d.errs, &ConfigError{File: d.file, Line: n.Line, Key: key, Problem: fmt.Sprintf(format, args...)})
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	default:
		return "nothing"
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fields calls each for every key of mapping n, in order, refusing keys not in known.
func (d *decoder) fields(n *yaml.Node, path string, known []string, each func(key string, v *yaml.Node)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a map, got %s", kindName(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		p := join(path, k.Value)
		if !contains(known, k.Value) {
			in := "at the top level"
			if path != "" {
				in = "in " + path
			}
			d.errorf(k, p, "unknown key %q %s (known: %s)", k.Value, in, strings.Join(known, ", "))
			continue
		}
		d.lines[p] = k.Line
		each(k.Value, v)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// list calls each for every item of sequence n with the item's key path.
func (d *decoder) list(n *yaml.Node, path string, each func(p string, item *yaml.Node)) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "want a list, got %s", kindName(n))
		return
	}
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		item = resolve(item)
		d.lines[p] = item.Line
		each(p, item)
	}
}

func (d *decoder) str(n *yaml.Node, path string) string {
	if isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "want a string, got %s", kindName(n))
		return ""
	}
	return n.Value
}

func (d *decoder) positiveInt(n *yaml.Node, path string) int {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.errorf(n, path, "want a whole number, got %s", kindName(n))
		return 0
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < 1 {
		d.errorf(n, path, "want a whole number of at least 1, got %s", n.Value)
		return 0
	}
	return v
}

func (d *decoder) boolean(n *yaml.Node, path string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		d.errorf(n, path, "want true or false, got %s", kindName(n))
	}
	return b
}

func (d *decoder) duration(n *yaml.Node, path string) time.Duration {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "want a duration such as 1s, got %s", kindName(n))
		return 0
	}
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		d.errorf(n, path, "%q is not a duration (e.g. 500ms, 2s, 1m)", n.Value)
		return 0
	}
	if v <= 0 {
		d.errorf(n, path, "%q must be positive", n.Value)
		return 0
	}
	return v
}

func (d *decoder) source(n *yaml.Node, path, dir string) SourceConfig {
	var s SourceConfig
	var settings *yaml.Node
	d.fields(n, path, []string{"name", "pluginPath", "enabled", "settings"}, func(key string, v *yaml.Node) {
		p := join(path, key)
		switch key {
		case "name":
			s.Name = d.str(v, p)
		case "pluginPath":
			s.PluginPath = relativeTo(dir, d.str(v, p))
		case "enabled":
			b := d.boolean(v, p)
			s.Enabled = &b
		case "settings":
			settings = v
		}
	})
	if settings != nil {
		// Known only now: enabled may come after settings. A disabled source's settings are
		// never used, so its variables need not be set (the design's disabled datadog entry
		// names ${DATADOG_API_KEY}).
		s.Settings = d.settings(settings, join(path, "settings"), s.IsEnabled())
	}
	return s
}

func (d *decoder) global(n *yaml.Node, path string) GlobalSettings {
	var g GlobalSettings
	d.fields(n, path, []string{"bufferSize", "workerCount", "retryAttempts", "retryBackoff"}, func(key string, v *yaml.Node) {
		p := join(path, key)
		switch key {
		case "bufferSize":
			g.BufferSize = d.positiveInt(v, p)
		case "workerCount":
			g.WorkerCount = d.positiveInt(v, p)
		case "retryAttempts":
			g.RetryAttempts = d.positiveInt(v, p)
		case "retryBackoff":
			g.RetryBackoff = d.duration(v, p)
		}
	})
	return g
}

// settings expands ${VAR}s in the string values under n (when expand is set), then decodes it
// as a map.
func (d *decoder) settings(n *yaml.Node, path string, expand bool) ports.Settings {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a map, got %s", kindName(n))
		return nil
	}
	n = deepCopy(n)
	if expand {
		d.expandNode(n, path)
	}
	var s map[string]any
	if err := n.Decode(&s); err != nil {
		d.errorf(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil
	}
	return s
}

// expandNode expands ${VAR} in every string scalar under n, naming the key of a missing one.
func (d *decoder) expandNode(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag != "!!str" || !strings.Contains(n.Value, "$") {
			return
		}
		v, err := expand(n.Value, d.lookup)
		if err != nil {
			d.errorf(n, path, "%v", err)
			return
		}
		n.Value = v
		n.Style = yaml.DoubleQuotedStyle // stays a string when decoded
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			d.expandNode(n.Content[i+1], join(path, n.Content[i].Value))
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			d.expandNode(c, fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

// deepCopy copies n and its content, resolving aliases, so expansion never changes a node that
// an alias shares with another key.
func deepCopy(n *yaml.Node) *yaml.Node {
	n = resolve(n)
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, x := range n.Content {
		c.Content[i] = deepCopy(x)
	}
	return &c
}

// expand replaces ${NAME} in s with the variable's value; $${ is a literal ${.
func expand(s string, lookup LookupEnv) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q (write $${ for a literal ${)", s)
			}
			name := s[i+2 : i+end]
			if !envName(name) {
				return "", fmt.Errorf("${%s} is not a variable name (letters, digits and _; write $${ for a literal ${)", name)
			}
			if lookup == nil {
				return "", fmt.Errorf("environment variable %s is not set", name)
			}
			v, ok := lookup(name)
			if !ok || v == "" {
				return "", fmt.Errorf("environment variable %s is not set or empty", name)
			}
			b.WriteString(v)
			i += end + 1
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), nil
}

func envName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func (d *decoder) mapping(n *yaml.Node, path string) Mapping {
	var m Mapping
	d.fields(n, path, []string{"eventSource", "eventType", "internalType", "description", "severity", "tags"}, func(key string, v *yaml.Node) {
		p := join(path, key)
		switch key {
		case "eventSource":
			m.EventSource = d.str(v, p)
		case "eventType":
			m.EventType = event.Type(d.str(v, p))
		case "internalType":
			m.InternalType = d.str(v, p)
		case "description":
			m.Description = d.str(v, p)
		case "severity":
			m.Severity = d.str(v, p)
		case "tags":
			m.Tags = d.tags(v, p)
		}
	})
	return m
}

func (d *decoder) tags(n *yaml.Node, path string) map[string]string {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a map of strings, got %s", kindName(n))
		return nil
	}
	tags := make(map[string]string, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		p := join(path, k.Value)
		if v.Kind != yaml.ScalarNode || isNull(v) {
			d.errorf(v, p, "want a string, got %s", kindName(v))
			continue
		}
		tags[k.Value] = v.Value
	}
	return tags
}
