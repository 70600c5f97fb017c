package matching_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/matching"
)

// selecting is a Hook of pod-restart in apps that takes the Pods with labels.
func selecting(name string, labels map[string]string) hook.Hook {
	h := newHook("apps", name, event.PodRestart)
	h.Configurations[0].Selector = hook.Selector{MatchLabels: labels}
	return h
}

func TestSelectKeepsTheHooksWhoseSelectorsTakeTheResource(t *testing.T) {
	critical := map[string]string{"tier": "critical"}
	tests := []struct {
		name   string
		hooks  []hook.Hook
		labels map[string]string
		want   []string // the hooks kept; nil: none
		same   bool     // the Matches of the lookup itself
	}{
		{"without selectors every Hook takes every resource", []hook.Hook{newHook("apps", "a", event.PodRestart), newHook("apps", "b", event.PodRestart)},
			nil, []string{"apps/a", "apps/b"}, true},
		{"a selector the labels match keeps its Hook", []hook.Hook{selecting("a", critical), newHook("apps", "b", event.PodRestart)},
			map[string]string{"tier": "critical", "app": "web"}, []string{"apps/a", "apps/b"}, true},
		{"a selector the labels do not match drops its Hook only", []hook.Hook{selecting("a", critical), newHook("apps", "b", event.PodRestart)},
			map[string]string{"tier": "batch"}, []string{"apps/b"}, false},
		{"a resource without labels is taken by Hooks without selectors only", []hook.Hook{selecting("a", critical), newHook("apps", "b", event.PodRestart)},
			nil, []string{"apps/b"}, false},
		{"when no selector takes the resource nothing matches", []hook.Hook{selecting("a", critical)},
			map[string]string{"tier": "batch"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := matching.NewIndex()
			for _, h := range tt.hooks {
				x.Upsert(h)
			}
			m := x.Match(event.Event{Type: event.PodRestart, Namespace: "apps", ResourceName: "web-1"})
			got := m.Select(tt.labels)
			if tt.want == nil {
				if got != nil {
					t.Fatalf("Select = %v, want nothing", got.Hooks)
				}
				return
			}
			var names []string
			for i, h := range got.Hooks {
				names = append(names, h.String())
				if got.Targets[i].Hook != h {
					t.Fatalf("target %d is %s, hook %s", i, got.Targets[i].Hook, h)
				}
			}
			if !slices.Equal(names, tt.want) {
				t.Fatalf("Select kept %v, want %v", names, tt.want)
			}
			if (got == m) != tt.same {
				t.Fatalf("Select returned the lookup's own Matches: %v, want %v", got == m, tt.same)
			}
			if got != m && got.Set == m.Set {
				t.Fatal("a narrowed Matches has the Set of the whole: the dedup would take one for the other")
			}
		})
	}
}

// A repeat of trouble a selector narrows gets the same Matches (the same Set, so the dedup's fast
// path holds) and allocates nothing.
func TestSelectingTheSameTargetsAgainIsTheSameSetAndAllocatesNothing(t *testing.T) {
	x := matching.NewIndex()
	x.Upsert(selecting("a", map[string]string{"tier": "critical"}))
	x.Upsert(newHook("apps", "b", event.PodRestart))
	e := event.Event{Type: event.PodRestart, Namespace: "apps", ResourceName: "web-1"}
	labels := map[string]string{"tier": "batch"}
	first := x.Match(e).Select(labels)
	if again := x.Match(e).Select(labels); again != first {
		t.Fatalf("the second Select made another Matches (Set %d, then %d)", first.Set, again.Set)
	}
	if n := testing.AllocsPerRun(100, func() { x.Match(e).Select(labels) }); n != 0 {
		t.Fatalf("a narrowed lookup allocates %.0f times", n)
	}
}

// However many label sets events bring, what one Matches keeps is bounded; past the bound each
// narrowed set still matches correctly.
func TestPastTheNarrowedSetsKeptEachLabelSetStillMatchesRight(t *testing.T) {
	x := matching.NewIndex()
	for i := range 10 {
		x.Upsert(selecting(fmt.Sprintf("h%d", i), map[string]string{fmt.Sprintf("k%d", i): "v"}))
	}
	m := x.Match(event.Event{Type: event.PodRestart, Namespace: "apps", ResourceName: "p"})
	sets := map[uint64]bool{}
	for mask := 1; mask < 1<<10; mask++ {
		labels := map[string]string{}
		for i := range 10 {
			if mask&(1<<i) != 0 {
				labels[fmt.Sprintf("k%d", i)] = "v"
			}
		}
		got := m.Select(labels)
		if len(got.Targets) != popcount(mask) {
			t.Fatalf("labels %v kept %d hooks, want %d", labels, len(got.Targets), popcount(mask))
		}
		if sets[got.Set] && got != m {
			t.Fatalf("two label sets share Set %d", got.Set)
		}
		sets[got.Set] = true
	}
}

func popcount(n int) int {
	c := 0
	for ; n > 0; n &= n - 1 {
		c++
	}
	return c
}

// A namespace with many selecting Hooks (more than a word of them) narrows as cheaply.
func TestManySelectingHooksNarrowToTheSameSetWithoutAllocating(t *testing.T) {
	x := matching.NewIndex()
	for i := range 300 {
		team := "payments"
		if i%3 == 0 {
			team = "search"
		}
		x.Upsert(selecting(fmt.Sprintf("h%03d", i), map[string]string{"team": team}))
	}
	e := event.Event{Type: event.PodRestart, Namespace: "apps", ResourceName: "web-1"}
	labels := map[string]string{"team": "payments"}
	first := x.Match(e).Select(labels)
	if len(first.Targets) != 200 {
		t.Fatalf("%d Hooks kept, want the 200 selecting team=payments", len(first.Targets))
	}
	if again := x.Match(e).Select(labels); again != first {
		t.Fatal("the second Select made another Matches")
	}
	if n := testing.AllocsPerRun(100, func() { x.Match(e).Select(labels) }); n != 0 {
		t.Fatalf("a narrowed lookup allocates %.0f times", n)
	}
}
