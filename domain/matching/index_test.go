package matching_test

import (
	"reflect"
	"testing"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/matching"
)

func newHook(ns, name string, types ...event.Type) hook.Hook {
	h := hook.Hook{Ref: hook.Ref{Namespace: ns, Name: name}}
	for i, t := range types {
		h.Configurations = append(h.Configurations, hook.Configuration{
			EventType: t, Agent: hook.AgentRef{Namespace: ns, Name: "agent"}, Prompt: string(rune('a' + i)),
		})
	}
	return h
}

// matched renders matches as "namespace/hook:prompt" for easy comparison.
func matched(ms []matching.Match) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Hook.String()+":"+m.Configuration.Prompt)
	}
	return out
}

func TestMatch(t *testing.T) {
	hooks := []hook.Hook{
		newHook("apps", "restarts", event.PodRestart),
		newHook("apps", "everything", event.PodRestart, event.OOMKill, event.PodRestart),
		newHook("other", "restarts", event.PodRestart),
		newHook("khook-system", "alerts", "alert-firing"),
		newHook("apps", "app-alerts", "alert-firing"),
	}
	tests := []struct {
		name  string
		event event.Event
		want  []string
	}{
		{"an event matches every hook of its type in its namespace, each configuration once",
			event.Event{Type: event.PodRestart, Namespace: "apps", ResourceName: "p"},
			[]string{"apps/everything:a", "apps/everything:c", "apps/restarts:a"}},
		{"a hook in another namespace does not see the event",
			event.Event{Type: event.PodRestart, Namespace: "other", ResourceName: "p"},
			[]string{"other/restarts:a"}},
		{"the event type must match exactly",
			event.Event{Type: event.ProbeFailed, Namespace: "apps", ResourceName: "p"},
			nil},
		{"a cluster-wide event goes to hooks in the cluster-event namespace only",
			event.Event{Type: "alert-firing", ResourceName: "NodeDown"},
			[]string{"khook-system/alerts:a"}},
		{"a namespaced alert goes to hooks in its namespace",
			event.Event{Type: "alert-firing", Namespace: "apps", ResourceName: "HighLatency"},
			[]string{"apps/app-alerts:a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := matching.NewIndex("khook-system")
			for _, h := range hooks {
				x.Upsert(h)
			}
			if got := matched(x.Match(tt.event)); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Match() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUpsertReplacesAndRemoveForgets(t *testing.T) {
	x := matching.NewIndex()
	x.Upsert(newHook("apps", "h", event.PodRestart))
	x.Upsert(newHook("apps", "h", event.OOMKill))
	restart := event.Event{Type: event.PodRestart, Namespace: "apps", ResourceName: "p"}
	oom := event.Event{Type: event.OOMKill, Namespace: "apps", ResourceName: "p"}
	if got := x.Match(restart); len(got) != 0 {
		t.Fatalf("after the update the old event type still matches: %v", matched(got))
	}
	if got := x.Match(oom); len(got) != 1 {
		t.Fatalf("after the update the new event type matches %d times, want 1", len(got))
	}
	if !x.WatchesNamespace("apps") || x.WatchesNamespace("other") {
		t.Fatal("WatchesNamespace does not reflect the hooks")
	}
	x.Remove(hook.Ref{Namespace: "apps", Name: "h"})
	if got := x.Match(oom); len(got) != 0 || x.WatchesNamespace("apps") {
		t.Fatalf("after Remove the hook still matches: %v", matched(got))
	}
}

func TestClusterWideEventsMatchNothingWithoutAClusterEventNamespace(t *testing.T) {
	x := matching.NewIndex()
	x.Upsert(newHook("apps", "alerts", "alert-firing"))
	if got := x.Match(event.Event{Type: "alert-firing", ResourceName: "NodeDown"}); len(got) != 0 {
		t.Fatalf("a cluster-wide event matched %v", matched(got))
	}
}
