package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEventWatcherConfigFlag(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "event-watcher-config.yaml")
	config := "eventSources:\n  - name: alertmanager\n    settings:\n      bearerToken: ${AM_TOKEN}\n"
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantToken any
		wantErr   string
	}{
		{"without the flag khook runs as before, with no event-watcher configuration", nil, nil, nil, ""},
		{"the flag loads the file, variables from the environment",
			[]string{"-event-watcher-config", path}, map[string]string{"AM_TOKEN": "s3cret"}, "s3cret", ""},
		{"a missing variable stops khook at start, naming the flag, file, line and key",
			[]string{"-event-watcher-config", path}, nil, nil,
			"-event-watcher-config: " + path + ":4: eventSources[0].settings.bearerToken: environment variable AM_TOKEN is not set or empty"},
		{"a file that does not exist stops khook, naming the flag",
			[]string{"-event-watcher-config", filepath.Join(dir, "nope.yaml")}, nil, nil, "-event-watcher-config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"POD_NAMESPACE": "kagent"}
			for k, v := range tt.env {
				env[k] = v
			}
			c, err := parseFlags(tt.args, func(k string) string { return env[k] }, &bytes.Buffer{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseFlags: %v\nwant %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantToken == nil {
				if c.opts.EventSources != nil {
					t.Errorf("EventSources = %+v, want nil", c.opts.EventSources)
				}
				return
			}
			if c.opts.EventSources == nil || c.opts.EventSources.EventSources[0].Settings["bearerToken"] != tt.wantToken {
				t.Errorf("EventSources = %+v", c.opts.EventSources)
			}
		})
	}
}
