package matching_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/matching"
)

func naming(ns, name string, agents ...string) hook.Hook {
	h := hook.Hook{Ref: hook.Ref{Namespace: ns, Name: name}}
	for i, a := range agents {
		t := event.PodRestart
		if i%2 == 1 {
			t = event.OOMKill
		}
		h.Configurations = append(h.Configurations, hook.Configuration{EventType: t, Agent: hook.AgentRef{Namespace: "kagent", Name: a}})
	}
	return h
}

// changes renders what the index said, as "+agent" for an agent brought into use and "-agent"
// for one out of use.
func changes(c matching.AgentChanges) []string {
	var out []string
	for _, a := range c.Used {
		out = append(out, "+"+a.Name)
	}
	for _, a := range c.Unused {
		out = append(out, "-"+a.Name)
	}
	return out
}

func TestTheIndexSaysWhichAgentsComeIntoAndGoOutOfUse(t *testing.T) {
	type step struct {
		upsert *hook.Hook // nil: remove
		remove hook.Ref
		want   []string
	}
	up := func(h hook.Hook, want ...string) step { return step{upsert: &h, want: want} }
	rm := func(ns, name string, want ...string) step {
		return step{remove: hook.Ref{Namespace: ns, Name: name}, want: want}
	}
	tests := []struct {
		name  string
		steps []step
		used  int
	}{
		{"a Hook's agents come into use once each, however many configurations name them",
			[]step{up(naming("apps", "x", "a", "a", "b"), "+a", "+b")}, 2},
		{"an agent a second Hook names is already in use",
			[]step{up(naming("apps", "x", "a"), "+a"), up(naming("web", "y", "a"))}, 1},
		{"an agent stays in use while one Hook still names it",
			[]step{up(naming("apps", "x", "a"), "+a"), up(naming("web", "y", "a")), rm("apps", "x")}, 1},
		{"an agent goes out of use with the last Hook naming it",
			[]step{up(naming("apps", "x", "a"), "+a"), up(naming("web", "y", "a")), rm("apps", "x"), rm("web", "y", "-a")}, 0},
		{"editing a Hook brings its new agents into use and lets the dropped ones go",
			[]step{up(naming("apps", "x", "a", "b"), "+a", "+b"), up(naming("apps", "x", "b", "c"), "+c", "-a")}, 2},
		{"upserting a Hook unchanged says nothing",
			[]step{up(naming("apps", "x", "a"), "+a"), up(naming("apps", "x", "a"))}, 1},
		{"removing a Hook the index does not hold says nothing",
			[]step{up(naming("apps", "x", "a"), "+a"), rm("apps", "nope"), rm("other", "x")}, 1},
		{"a Hook without configurations names no agent",
			[]step{up(naming("apps", "x", "a"), "+a"), up(naming("apps", "x"), "-a")}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := matching.NewIndex()
			for i, s := range tt.steps {
				var c matching.AgentChanges
				if s.upsert != nil {
					c = x.Upsert(*s.upsert)
				} else {
					c = x.Remove(s.remove)
				}
				if got := changes(c); !slices.Equal(got, s.want) {
					t.Fatalf("step %d said %q, want %q", i, got, s.want)
				}
			}
			if n := x.AgentsInUse(); n != tt.used {
				t.Fatalf("%d agents in use, want %d", n, tt.used)
			}
		})
	}
}

// A thousand Hooks come and go, each naming its own agent and a shared one: at the end no agent
// is in use, and each was brought into and out of use exactly once.
func TestEveryAgentBroughtIntoUseGoesOutOfUseWithItsHooks(t *testing.T) {
	x := matching.NewIndex()
	used, unused := map[string]int{}, map[string]int{}
	count := func(c matching.AgentChanges) {
		for _, a := range c.Used {
			used[a.Name]++
		}
		for _, a := range c.Unused {
			unused[a.Name]++
		}
	}
	for i := range 1000 {
		count(x.Upsert(naming(fmt.Sprintf("ns-%d", i%7), fmt.Sprintf("h-%d", i), fmt.Sprintf("own-%d", i), "shared")))
	}
	if n := x.AgentsInUse(); n != 1001 {
		t.Fatalf("%d agents in use, want 1001", n)
	}
	for i := range 1000 {
		count(x.Remove(hook.Ref{Namespace: fmt.Sprintf("ns-%d", i%7), Name: fmt.Sprintf("h-%d", i)}))
	}
	if n := x.AgentsInUse(); n != 0 {
		t.Fatalf("%d agents still in use", n)
	}
	for name, n := range used {
		if n != 1 || unused[name] != 1 {
			t.Fatalf("agent %s came into use %d times and went out %d times, want once each", name, n, unused[name])
		}
	}
	if len(used) != 1001 || len(unused) != 1001 {
		t.Fatalf("%d agents came into use, %d went out; want 1001 each", len(used), len(unused))
	}
}
