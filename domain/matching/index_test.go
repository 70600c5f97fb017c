package matching_test

import (
	"fmt"
	"reflect"
	"slices"
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

// matched renders matches as "namespace/hook:prompt", one per configuration, for easy comparison.
func matched(m *matching.Matches) []string {
	if m == nil {
		return nil
	}
	var out []string
	for _, t := range m.Targets {
		for _, c := range t.Configurations {
			out = append(out, t.Hook.String()+":"+c.Prompt)
		}
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
	if got := matched(x.Match(restart)); len(got) != 0 {
		t.Fatalf("after the update the old event type still matches: %v", got)
	}
	if got := matched(x.Match(oom)); len(got) != 1 {
		t.Fatalf("after the update the new event type matches %d times, want 1", len(got))
	}
	if !x.WatchesNamespace("apps") || x.WatchesNamespace("other") {
		t.Fatal("WatchesNamespace does not reflect the hooks")
	}
	x.Remove(hook.Ref{Namespace: "apps", Name: "h"})
	if got := matched(x.Match(oom)); len(got) != 0 || x.WatchesNamespace("apps") {
		t.Fatalf("after Remove the hook still matches: %v", got)
	}
}

func TestClusterWideEventsMatchNothingWithoutAClusterEventNamespace(t *testing.T) {
	x := matching.NewIndex()
	x.Upsert(newHook("apps", "alerts", "alert-firing"))
	if got := matched(x.Match(event.Event{Type: "alert-firing", ResourceName: "NodeDown"})); len(got) != 0 {
		t.Fatalf("a cluster-wide event matched %v", got)
	}
}

func TestTheSetOfAnEventsMatchesChangesOnlyWhenAHookThereChanges(t *testing.T) {
	restart := event.Event{Type: event.PodRestart, Namespace: "apps", ResourceName: "p"}
	alert := event.Event{Type: "alert-firing", ResourceName: "NodeDown"}
	tests := []struct {
		name        string
		change      func(x *matching.Index)
		event       event.Event
		wantSameSet bool
		wantPrompts []string
	}{
		{"a hook added in another namespace keeps the set", func(x *matching.Index) { x.Upsert(newHook("other", "h", event.PodRestart)) },
			restart, true, []string{"apps/h:a"}},
		{"a hook of another type in the namespace keeps the set", func(x *matching.Index) { x.Upsert(newHook("apps", "oom", event.OOMKill)) },
			restart, true, []string{"apps/h:a"}},
		{"a second hook of the type in the namespace makes a new set", func(x *matching.Index) { x.Upsert(newHook("apps", "g", event.PodRestart)) },
			restart, false, []string{"apps/g:a", "apps/h:a"}},
		{"the hook updated makes a new set", func(x *matching.Index) { x.Upsert(newHook("apps", "h", event.OOMKill, event.PodRestart)) },
			restart, false, []string{"apps/h:b"}},
		{"a hook added in a cluster-event namespace makes a new set for events without one", func(x *matching.Index) {
			x.Upsert(newHook("khook-system", "more-alerts", "alert-firing"))
		}, alert, false, []string{"khook-system/alerts:a", "khook-system/more-alerts:a"}},
		{"a hook removed from a cluster-event namespace leaves the others", func(x *matching.Index) {
			x.Upsert(newHook("khook-system", "more-alerts", "alert-firing"))
			x.Remove(hook.Ref{Namespace: "khook-system", Name: "more-alerts"})
		}, alert, false, []string{"khook-system/alerts:a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := matching.NewIndex("khook-system")
			x.Upsert(newHook("apps", "h", event.PodRestart))
			x.Upsert(newHook("khook-system", "alerts", "alert-firing"))
			before := x.Match(tt.event)
			tt.change(x)
			after := x.Match(tt.event)
			if got := before.Set == after.Set; got != tt.wantSameSet {
				t.Errorf("same set = %v, want %v", got, tt.wantSameSet)
			}
			if got := matched(after); !reflect.DeepEqual(got, tt.wantPrompts) {
				t.Errorf("Match() = %v, want %v", got, tt.wantPrompts)
			}
			for i, target := range after.Targets {
				if after.Hooks[i] != target.Hook {
					t.Errorf("Hooks[%d] = %s, want %s", i, after.Hooks[i], target.Hook)
				}
			}
		})
	}
}

func TestATargetNamesEachAgentOnceInSpecOrder(t *testing.T) {
	b, a := hook.AgentRef{Namespace: "kagent", Name: "b"}, hook.AgentRef{Namespace: "kagent", Name: "a"}
	x := matching.NewIndex()
	x.Upsert(hook.Hook{Ref: hook.Ref{Namespace: "apps", Name: "h"}, UID: "u1", Configurations: []hook.Configuration{
		{EventType: event.PodRestart, Agent: b, Prompt: "1"},
		{EventType: event.OOMKill, Agent: a, Prompt: "2"},
		{EventType: event.PodRestart, Agent: a, Prompt: "3"},
		{EventType: event.PodRestart, Agent: b, Prompt: "4"},
	}})
	m := x.Match(event.Event{Type: event.PodRestart, Namespace: "apps"})
	if len(m.Targets) != 1 || m.Targets[0].UID != "u1" || !reflect.DeepEqual(m.Targets[0].Agents, []hook.AgentRef{b, a}) {
		t.Fatalf("targets = %+v, want one of UID u1 with agents [b a]", m.Targets)
	}
}

func TestALookupAllocatesNothing(t *testing.T) {
	x := matching.NewIndex("khook-system")
	x.Upsert(newHook("apps", "h", event.PodRestart))
	x.Upsert(newHook("khook-system", "alerts", "alert-firing"))
	for _, e := range []event.Event{
		{Type: event.PodRestart, Namespace: "apps"},
		{Type: "alert-firing"},
		{Type: event.PodRestart, Namespace: "nobody-here"},
	} {
		if allocs := testing.AllocsPerRun(100, func() { x.Match(e) }); allocs != 0 {
			t.Errorf("Match(%s in %q) allocates %v times", e.Type, e.Namespace, allocs)
		}
	}
}

func TestLookupsWhileTheFirstHooksOfNamespacesArriveNeverFail(t *testing.T) {
	x := matching.NewIndex("khook-system")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			x.Upsert(newHook(fmt.Sprintf("ns-%d", i), "h", event.PodRestart))
			if i == 1000 {
				x.Upsert(newHook("khook-system", "alerts", "alert-firing"))
			}
		}
	}()
	for i := 0; ; i++ {
		select {
		case <-done:
			if x.Match(event.Event{Type: "alert-firing"}) == nil || !x.WatchesNamespace("ns-1999") {
				t.Fatal("the last hooks are not indexed")
			}
			return
		default:
		}
		ns := fmt.Sprintf("ns-%d", i%2000)
		x.WatchesNamespace(ns) // a Pod event in a namespace whose first Hook may be arriving
		x.Match(event.Event{Type: event.PodRestart, Namespace: ns})
		x.Match(event.Event{Type: "alert-firing"})
		x.Get(hook.Ref{Namespace: ns, Name: "h"})
	}
}

func TestLookupsDuringHookChangesSeeEitherTheOldOrTheNewHook(t *testing.T) {
	x := matching.NewIndex()
	x.Upsert(newHook("apps", "h", event.PodRestart))
	e := event.Event{Type: event.PodRestart, Namespace: "apps"}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 {
			x.Upsert(newHook("apps", fmt.Sprintf("g-%d", i%10), event.PodRestart))
			x.Remove(hook.Ref{Namespace: "apps", Name: fmt.Sprintf("g-%d", (i+5)%10)})
		}
	}()
	for {
		select {
		case <-done:
			return
		default:
		}
		m := x.Match(e)
		if m == nil || len(m.Targets) != len(m.Hooks) || !slices.ContainsFunc(m.Targets, func(t matching.Target) bool { return t.Hook.Name == "h" }) {
			t.Fatalf("a lookup during changes saw %+v", m)
		}
		if _, ok := x.Get(hook.Ref{Namespace: "apps", Name: "h"}); !ok {
			t.Fatal("Get lost a hook that was never removed")
		}
	}
}
