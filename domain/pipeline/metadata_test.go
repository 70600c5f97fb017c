package pipeline_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/pipeline"
)

// TestTheAgentsMessageMetadataCarriesTheEventsMapping checks what issue 8 asks of an event
// mapping: its severity, description and tags reach the agent's message metadata (as
// severity, description and tag.<key>), beside the event's context, which neither a tag nor
// a source's own metadata may overwrite.
func TestTheAgentsMessageMetadataCarriesTheEventsMapping(t *testing.T) {
	tests := []struct {
		name  string
		event func(e *event.Event)
		want  map[string]string // these keys, with these values ("" means: absent)
	}{
		{"a mapping's severity, description and tags reach the agent",
			func(e *event.Event) {
				e.Severity, e.Description = "critical", "A container keeps crashing"
				e.Tags = map[string]string{"team": "payments", "tier": "1"}
			},
			map[string]string{"severity": "critical", "description": "A container keeps crashing", "tag.team": "payments", "tag.tier": "1"}},
		{"an event without a mapping sends no empty severity or description",
			func(*event.Event) {},
			map[string]string{"severity": "", "description": "", "hook": "apps/one", "eventType": "pod-restart"}},
		{"the source's own metadata reaches the agent beside the mapping",
			func(e *event.Event) {
				e.Severity = "warning"
				e.Metadata = map[string]string{"alertname": "KubePodCrashLooping", "value": "3"}
			},
			map[string]string{"severity": "warning", "alertname": "KubePodCrashLooping", "value": "3"}},
		{"the event's context wins over a source's metadata of the same name",
			func(e *event.Event) {
				e.Severity = "critical"
				e.Metadata = map[string]string{"severity": "spoofed", "hook": "other/hook", "namespace": "kube-system"}
			},
			map[string]string{"severity": "critical", "hook": "apps/one", "namespace": "apps"}},
		{"a tag cannot pose as context: it stays under tag.",
			func(e *event.Event) { e.Tags = map[string]string{"severity": "low", "hook": "x"} },
			map[string]string{"tag.severity": "low", "tag.hook": "x", "severity": "", "hook": "apps/one"}},
		{"control characters in a mapping's fields are not passed on",
			func(e *event.Event) {
				e.Description, e.Tags = "line one\x1b[2Jline two", map[string]string{"team": "ops\u202e"}
			},
			map[string]string{"description": "line one[2Jline two", "tag.team": "ops"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, pipeline.Options{}, newHook("apps", "one", onRestart(agentA, "{{.ResourceName}}")))
			e := restart
			tt.event(&e)
			f.handle(e)
			calls := f.agent.Calls("send", agentA)
			if len(calls) != 1 {
				t.Fatalf("the agent was sent %d messages, want 1", len(calls))
			}
			got := calls[0].Request.Metadata
			var wrong []string
			for k, want := range tt.want {
				v, present := got[k]
				switch {
				case want == "" && present:
					wrong = append(wrong, fmt.Sprintf("%s = %q, want it absent", k, v))
				case want != "" && v != want:
					wrong = append(wrong, fmt.Sprintf("%s = %q (present: %v), want %q", k, v, present, want))
				}
			}
			if len(wrong) > 0 {
				sort.Strings(wrong)
				t.Errorf("metadata the agent received:\n  %s\nall of it: %v", strings.Join(wrong, "\n  "), got)
			}
		})
	}
}
