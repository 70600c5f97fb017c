package main

import (
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		env         map[string]string
		wantURL     string
		wantUser    string
		wantTimeout time.Duration
		wantErr     bool
	}{
		{"defaults point at an in-cluster Kagent", nil, nil, "http://kagent-controller.kagent:8083", "admin@kagent.dev", 30 * time.Second, false},
		{"the original khook's environment variables are honoured",
			nil, map[string]string{"KAGENT_API_URL": "http://kagent:8083", "KAGENT_USER_ID": "ops@x", "KAGENT_API_TIMEOUT": "120"},
			"http://kagent:8083", "ops@x", 2 * time.Minute, false},
		{"a timeout may also be a duration", nil, map[string]string{"KAGENT_API_TIMEOUT": "90s"}, "http://kagent-controller.kagent:8083", "admin@kagent.dev", 90 * time.Second, false},
		{"flags win over the environment",
			[]string{"-kagent-url", "http://other:1", "-user-id", "me", "-call-timeout", "5s"},
			map[string]string{"KAGENT_API_URL": "http://kagent:8083", "KAGENT_USER_ID": "ops@x", "KAGENT_API_TIMEOUT": "120"},
			"http://other:1", "me", 5 * time.Second, false},
		{"a malformed timeout is an error", nil, map[string]string{"KAGENT_API_TIMEOUT": "soon"}, "", "", 0, true},
		{"a relative Kagent URL is an error", []string{"-kagent-url", "kagent:8083"}, nil, "", "", 0, true},
		{"an unknown log level is an error", []string{"-log-level", "loud"}, nil, "", "", 0, true},
		{"an unknown delivery guarantee is an error", []string{"-delivery-guarantee", "exactly-once"}, nil, "", "", 0, true},
		{"a header without a value is an error", []string{"-kagent-header", "X-Tenant"}, nil, "", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.args, func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseFlags error = %v, want error: %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if c.opts.KagentURL != tt.wantURL || c.opts.UserID != tt.wantUser || c.opts.RequestTimeout != tt.wantTimeout {
				t.Fatalf("options = %+v", c.opts)
			}
		})
	}
}
