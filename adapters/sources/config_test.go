package sources_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/khook-dev/khook/adapters/sources"
	"github.com/khook-dev/khook/ports"
)

// writeFiles writes each name → content into a new directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func env(vars map[string]string) sources.LookupEnv {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestLoadConfigReadsValidFiles(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name  string
		files map[string]string
		env   map[string]string
		want  func(dir string) *sources.Config
	}{
		{
			name:  "an empty file runs the default sources with the default settings",
			files: map[string]string{"event-watcher-config.yaml": ""},
			want:  func(string) *sources.Config { return &sources.Config{} },
		},
		{
			name: "every key of both files is read, relative paths from the file's directory",
			files: map[string]string{
				"event-watcher-config.yaml": `
mappingFile: event-mappings.yaml
pluginDirectory: plugins
eventSources:
  - name: kubernetes
    enabled: false
  - name: alertmanager
    settings:
      listenAddress: ":9095"
      bearerToken: ${AM_TOKEN}
      note: "costs $$5, literally $${NOT_A_VAR}"
  - name: httpprobe
    pluginPath: /opt/khook/httpprobe.so
    enabled: true
    settings:
      url: http://example.com/
      interval: 10s
      retries: 3
  - name: datadog
    settings:
      apiKey: ${DATADOG_API_KEY}
    enabled: false
globalSettings:
  bufferSize: 256
  workerCount: 2
  retryAttempts: 3
  retryBackoff: 500ms
`,
				"event-mappings.yaml": `
mappings:
  - eventSource: alertmanager
    eventType: pod-crash-alert
    internalType: KubePodCrashLooping
    description: A container keeps crashing
    severity: critical
    tags:
      team: platform
      runbook: https://runbooks.example/crash
  - eventSource: alertmanager
    internalType: Watchdog
`,
			},
			env: map[string]string{"AM_TOKEN": "s3cret"},
			want: func(dir string) *sources.Config {
				return &sources.Config{
					File:            filepath.Join(dir, "event-watcher-config.yaml"),
					MappingFile:     filepath.Join(dir, "event-mappings.yaml"),
					PluginDirectory: filepath.Join(dir, "plugins"),
					EventSources: []sources.SourceConfig{
						{Name: "kubernetes", Enabled: &no},
						{Name: "alertmanager", Settings: ports.Settings{"listenAddress": ":9095", "bearerToken": "s3cret", "note": "costs $$5, literally ${NOT_A_VAR}"}},
						{Name: "httpprobe", PluginPath: "/opt/khook/httpprobe.so", Enabled: &yes,
							Settings: ports.Settings{"url": "http://example.com/", "interval": "10s", "retries": 3}},
						// Disabled: its variables are not expanded, so they need not be set.
						{Name: "datadog", Enabled: &no, Settings: ports.Settings{"apiKey": "${DATADOG_API_KEY}"}},
					},
					GlobalSettings: sources.GlobalSettings{BufferSize: 256, WorkerCount: 2, RetryAttempts: 3, RetryBackoff: 500 * time.Millisecond},
					Mappings: []sources.Mapping{
						{EventSource: "alertmanager", EventType: "pod-crash-alert", InternalType: "KubePodCrashLooping",
							Description: "A container keeps crashing", Severity: "critical",
							Tags: map[string]string{"team": "platform", "runbook": "https://runbooks.example/crash"}},
						{EventSource: "alertmanager", InternalType: "Watchdog"},
					},
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			path := filepath.Join(dir, "event-watcher-config.yaml")
			got, err := sources.LoadConfig(path, env(tt.env))
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			want := tt.want(dir)
			if want.File == "" {
				want.File = path
			}
			// Compare the exported fields only.
			gotV, wantV := *got, *want
			if !reflect.DeepEqual(exported(gotV), exported(wantV)) {
				t.Errorf("got  %+v\nwant %+v", exported(gotV), exported(wantV))
			}
			if err := got.Validate(); err != nil {
				t.Errorf("a loaded configuration does not validate: %v", err)
			}
		})
	}
}

// exported copies the exported fields of c.
func exported(c sources.Config) sources.Config {
	return sources.Config{File: c.File, MappingFile: c.MappingFile, PluginDirectory: c.PluginDirectory,
		EventSources: c.EventSources, GlobalSettings: c.GlobalSettings, Mappings: c.Mappings}
}

func TestLoadConfigRefusesBadFiles(t *testing.T) {
	const mappingsRef = "mappingFile: event-mappings.yaml\n"
	tests := []struct {
		name     string
		config   string
		mappings string // written as event-mappings.yaml when not empty
		env      map[string]string
		want     []string // the error's lines, the directory left out
	}{
		{"a misspelt top-level key is named with the known ones",
			"eventSource:\n  - name: alertmanager\n", "", nil,
			[]string{`event-watcher-config.yaml:1: eventSource: unknown key "eventSource" at the top level (known: mappingFile, pluginDirectory, eventSources, globalSettings)`}},
		{"an unknown key in a source entry is named with its line",
			"eventSources:\n  - name: alertmanager\n    setting:\n      a: b\n", "", nil,
			[]string{`event-watcher-config.yaml:3: eventSources[0].setting: unknown key "setting" in eventSources[0] (known: name, pluginPath, enabled, settings)`}},
		{"an unknown global setting is named",
			"globalSettings:\n  workers: 3\n", "", nil,
			[]string{`event-watcher-config.yaml:2: globalSettings.workers: unknown key "workers" in globalSettings (known: bufferSize, workerCount, retryAttempts, retryBackoff)`}},
		{"a bad duration says what a duration looks like",
			"globalSettings:\n  retryBackoff: 5 seconds\n", "", nil,
			[]string{`event-watcher-config.yaml:2: globalSettings.retryBackoff: "5 seconds" is not a duration (e.g. 500ms, 2s, 1m)`}},
		{"a count that is not a positive number is refused, each with its line",
			"globalSettings:\n  workerCount: many\n  bufferSize: 0\n", "", nil,
			[]string{
				`event-watcher-config.yaml:2: globalSettings.workerCount: want a whole number, got "many"`,
				`event-watcher-config.yaml:3: globalSettings.bufferSize: want a whole number of at least 1, got 0`,
			}},
		{"too many workers are refused",
			"globalSettings:\n  workerCount: 1000\n", "", nil,
			[]string{`event-watcher-config.yaml:2: globalSettings.workerCount: 1000 is not between 1 and 256`}},
		{"a missing environment variable is named with the setting",
			"eventSources:\n  - name: alertmanager\n    settings:\n      bearerToken: Bearer ${AM_TOKEN}\n", "", nil,
			[]string{`event-watcher-config.yaml:4: eventSources[0].settings.bearerToken: environment variable AM_TOKEN is not set or empty`}},
		{"an empty environment variable counts as missing",
			"eventSources:\n  - name: alertmanager\n    settings:\n      tokens: [\"${AM_TOKEN}\"]\n", "", map[string]string{"AM_TOKEN": ""},
			[]string{`event-watcher-config.yaml:4: eventSources[0].settings.tokens[0]: environment variable AM_TOKEN is not set or empty`}},
		{"a malformed variable reference is refused",
			"eventSources:\n  - name: alertmanager\n    settings:\n      bearerToken: ${AM-TOKEN}\n", "", nil,
			[]string{`event-watcher-config.yaml:4: eventSources[0].settings.bearerToken: ${AM-TOKEN} is not a variable name (letters, digits and _; write $${ for a literal ${)`}},
		{"a source listed twice is refused with the first line",
			"eventSources:\n  - name: alertmanager\n  - name: alertmanager\n    enabled: false\n", "", nil,
			[]string{`event-watcher-config.yaml:3: eventSources[1].name: source "alertmanager" is listed twice (first at line 2)`}},
		{"a source without a name is refused",
			"eventSources:\n  - enabled: true\n", "", nil,
			[]string{`event-watcher-config.yaml:2: eventSources[0].name: is required`}},
		{"enabled must be a boolean",
			"eventSources:\n  - name: prometheus\n    enabled: yes\n", "", nil,
			[]string{`event-watcher-config.yaml:3: eventSources[0].enabled: want true or false, got "yes"`}},
		{"settings must be a map",
			"eventSources:\n  - name: prometheus\n    settings: [a, b]\n", "", nil,
			[]string{`event-watcher-config.yaml:3: eventSources[0].settings: want a map, got a list`}},
		{"a YAML syntax error names the file and line",
			"eventSources:\n  - name: alertmanager\n    settings: a: b\n", "", nil,
			[]string{`event-watcher-config.yaml:3: mapping values are not allowed in this context`}},
		{"a second YAML document is refused",
			"globalSettings: {}\n---\nglobalSettings: {}\n", "", nil,
			[]string{`event-watcher-config.yaml:2: more than one YAML document; put everything in one`}},
		{"a missing mapping file is named",
			"mappingFile: nowhere.yaml\n", "", nil,
			[]string{`event-watcher-config.yaml:1: mappingFile: open nowhere.yaml: no such file or directory`}},
		{"a duplicate mapping is refused with both lines",
			mappingsRef,
			"mappings:\n  - eventSource: alertmanager\n    eventType: job-failed\n    internalType: KubeJobFailed\n  - eventSource: alertmanager\n    eventType: job-failure\n    internalType: KubeJobFailed\n",
			nil,
			[]string{`event-mappings.yaml:5: mappings[1]: duplicate mapping for eventSource "alertmanager" internalType "KubeJobFailed" (first at line 2)`}},
		{"an unknown key in a mapping is named",
			mappingsRef,
			"mappings:\n  - eventSource: alertmanager\n    internalType: KubeJobFailed\n    severty: warning\n",
			nil,
			[]string{`event-mappings.yaml:4: mappings[0].severty: unknown key "severty" in mappings[0] (known: eventSource, eventType, internalType, description, severity, tags)`}},
		{"a malformed event type is refused",
			mappingsRef,
			"mappings:\n  - eventSource: alertmanager\n    eventType: Job_Failed\n    internalType: KubeJobFailed\n",
			nil,
			[]string{`event-mappings.yaml:3: mappings[0].eventType: event type "Job_Failed" is not lower-case words joined by dashes`}},
		{"a mapping without its source or internal type is refused",
			mappingsRef, "mappings:\n  - severity: warning\n", nil,
			[]string{
				`event-mappings.yaml:2: mappings[0].eventSource: is required`,
				`event-mappings.yaml:2: mappings[0].internalType: is required: the source's own name for the event (an alert's name, a kind such as PodRestart)`,
			}},
		{"an internal type is bounded",
			mappingsRef, "mappings:\n  - eventSource: a\n    internalType: " + strings.Repeat("x", 257) + "\n", nil,
			[]string{`event-mappings.yaml:3: mappings[0].internalType: "` + strings.Repeat("x", 32) + `…" is longer than 256 bytes`}},
		{"an internal type with a control character is refused",
			mappingsRef, "mappings:\n  - eventSource: a\n    internalType: \"Kube\\nDown\"\n", nil,
			[]string{`event-mappings.yaml:3: mappings[0].internalType: "Kube\nDown" holds control characters or invalid UTF-8`}},
		{"tags must be strings",
			mappingsRef, "mappings:\n  - eventSource: a\n    internalType: b\n    tags:\n      team: [x]\n", nil,
			[]string{`event-mappings.yaml:5: mappings[0].tags.team: want a string, got a list`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"event-watcher-config.yaml": tt.config}
			if tt.mappings != "" {
				files["event-mappings.yaml"] = tt.mappings
			}
			dir := writeFiles(t, files)
			c, err := sources.LoadConfig(filepath.Join(dir, "event-watcher-config.yaml"), env(tt.env))
			if err == nil {
				t.Fatalf("no error; loaded %+v", c)
			}
			got := strings.Split(strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), ""), "\n")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("error:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestLoadConfigNamesAMissingFile(t *testing.T) {
	_, err := sources.LoadConfig("/nonexistent/event-watcher-config.yaml", nil)
	if err == nil || err.Error() != "open /nonexistent/event-watcher-config.yaml: no such file or directory" {
		t.Errorf("got %v", err)
	}
}

func TestLoadMappingsReadsTheMappingFileAlone(t *testing.T) {
	dir := writeFiles(t, map[string]string{"m.yaml": "mappings:\n  - eventSource: prometheus\n    internalType: Watchdog\n    severity: none\n"})
	got, err := sources.LoadMappings(filepath.Join(dir, "m.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []sources.Mapping{{EventSource: "prometheus", InternalType: "Watchdog", Severity: "none"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// Earlier khook releases read the two mapping keys the other way round (eventType the source's
// own name, internalType the khook type). Such a file is refused with what to swap.
func TestAMappingInTheOldSpellingIsToldWhatToSwap(t *testing.T) {
	const swap = `this looks like the old spelling: swap eventType and internalType (eventType is the type Hooks use, internalType the source's own name)`
	tests := []struct {
		name     string
		mappings string
		want     []string
	}{
		{"an alert name in eventType and the khook type in internalType",
			"mappings:\n  - eventSource: alertmanager\n    eventType: KubePodCrashLooping\n    internalType: pod-crash-alert\n    severity: critical\n",
			[]string{`event-mappings.yaml:2: mappings[0]: eventType "KubePodCrashLooping" is not a khook event type (lower-case words joined by dashes), and internalType "pod-crash-alert" is one: ` + swap}},
		{"the design's file read the old way round",
			"mappings:\n  - eventSource: \"prometheus\"\n    eventType: \"PrometheusAlert\"\n    internalType: \"alert-firing\"\n",
			[]string{`event-mappings.yaml:2: mappings[0]: eventType "PrometheusAlert" is not a khook event type (lower-case words joined by dashes), and internalType "alert-firing" is one: ` + swap}},
		{"an alert name alone in eventType (a mapping that only set the severity)",
			"mappings:\n  - eventSource: alertmanager\n    eventType: Watchdog\n    severity: none\n",
			[]string{`event-mappings.yaml:2: mappings[0]: eventType "Watchdog" is not a khook event type (lower-case words joined by dashes), and internalType is missing: ` +
				`this looks like the old spelling, where eventType held the source's own name: rename eventType to internalType (eventType is the type Hooks use, internalType the source's own name)`}},
		{"an event type alone in eventType (a Kubernetes mapping that only added tags)",
			"mappings:\n  - eventSource: kubernetes\n    eventType: oom-kill\n    tags:\n      team: platform\n",
			[]string{`event-mappings.yaml:2: mappings[0].internalType: is required: the source's own name for the event (an alert's name, a kind such as PodRestart); ` +
				`in a file written for an earlier khook, where eventType held it, rename eventType to internalType (eventType is the type Hooks use, internalType the source's own name)`}},
		{"each mapping in the old spelling is named, with its line",
			"mappings:\n  - eventSource: alertmanager\n    eventType: KubeJobFailed\n    internalType: job-failed\n  - eventSource: alertmanager\n    eventType: KubeJobFailed2\n    internalType: job-failed-2\n",
			[]string{
				`event-mappings.yaml:2: mappings[0]: eventType "KubeJobFailed" is not a khook event type (lower-case words joined by dashes), and internalType "job-failed" is one: ` + swap,
				`event-mappings.yaml:5: mappings[1]: eventType "KubeJobFailed2" is not a khook event type (lower-case words joined by dashes), and internalType "job-failed-2" is one: ` + swap,
			}},
		{"neither key a khook type is a plain error, not a swap",
			"mappings:\n  - eventSource: alertmanager\n    eventType: KubeJobFailed\n    internalType: JobFailed\n",
			[]string{`event-mappings.yaml:3: mappings[0].eventType: event type "KubeJobFailed" is not lower-case words joined by dashes`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"event-watcher-config.yaml": "mappingFile: event-mappings.yaml\n", "event-mappings.yaml": tt.mappings})
			_, err := sources.LoadConfig(filepath.Join(dir, "event-watcher-config.yaml"), nil)
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.Split(strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), ""), "\n")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("error:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestAConfigurationBuiltInGoInTheOldSpellingIsToldWhatToSwap(t *testing.T) {
	c := &sources.Config{Mappings: []sources.Mapping{{EventSource: "alertmanager", EventType: "KubeJobFailed", InternalType: "job-failed"}}}
	err := c.Validate()
	want := `mappings[0]: eventType "KubeJobFailed" is not a khook event type (lower-case words joined by dashes), and internalType "job-failed" is one: this looks like the old spelling: swap eventType and internalType`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Validate() = %v\nwant %s…", err, want)
	}
}
