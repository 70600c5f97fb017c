package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

type source struct{ types []event.Type }

func (s source) Info() ports.SourceInfo {
	return ports.SourceInfo{Name: "test", EventTypes: s.types}
}
func (s source) Init(context.Context, ports.Settings) error           { return nil }
func (s source) Watch(context.Context, ports.EventSink, func()) error { return nil }
func (s source) Stop(context.Context) error                           { return nil }

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"a Kagent URL is all that is needed", Options{KagentURL: "http://kagent:8083"}, ""},
		{"the Kagent URL is required", Options{}, "Options.KagentURL is required"},
		{"the Kagent URL must be absolute", Options{KagentURL: "kagent:8083"}, `Options.KagentURL "kagent:8083" is not an absolute URL`},
		{"an extra source must not be nil", Options{KagentURL: "http://k", ExtraSources: []ports.EventSource{nil}}, "Options.ExtraSources[0] is nil"},
		{"an extra source's event types must be well formed", Options{KagentURL: "http://k", ExtraSources: []ports.EventSource{source{types: []event.Type{"Alert_Firing"}}}},
			`Options.ExtraSources[0] (test): event type "Alert_Firing" is not lower-case words joined by dashes`},
		{"allowed agent namespaces may be names, @self and *", Options{KagentURL: "http://k", AllowedAgentNamespaces: []string{"kagent", "@self", "*"}}, ""},
		{"an allowed agent namespace that can match nothing is refused", Options{KagentURL: "http://k", AllowedAgentNamespaces: []string{"kagent", "$self"}},
			`Options.AllowedAgentNamespaces: --allowed-agent-namespaces: "$self" is neither a namespace name nor @self or *`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestSetupWithManagerRejectsANilManager(t *testing.T) {
	if _, err := SetupWithManager(context.Background(), nil, Options{KagentURL: "http://k"}); err == nil {
		t.Fatal("SetupWithManager accepted a nil manager")
	}
}

func TestDefaultsFollowTheIssues(t *testing.T) {
	o := Options{KagentURL: "http://k"}.withDefaults()
	if o.CleanupInterval != time.Minute || o.StatusFlushInterval != time.Minute || o.DedupWindow != 10*time.Minute || o.UserID != "admin@kagent.dev" {
		t.Fatalf("defaults = %+v", o)
	}
	d := o.Delivery
	if d.Guarantee != delivery.AtLeastOnce || d.MaxInvestigationsPerAgent != 4 || d.InvestigationTimeout != time.Hour ||
		d.RetryInitial != 30*time.Second || d.RetryMax != 10*time.Minute || o.RequestTimeout != 30*time.Second || d.SendTimeout != o.RequestTimeout {
		t.Fatalf("delivery defaults = %+v, request timeout %s", d, o.RequestTimeout)
	}
}
