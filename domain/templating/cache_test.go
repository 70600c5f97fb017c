package templating

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/khook-dev/khook/domain/event"
)

func anEvent() event.Event {
	return event.Event{Type: event.PodRestart, ResourceName: "web-1", Namespace: "shop", Reason: "BackOff", Message: "Back-off restarting failed container"}
}

// check fails t unless the cache's books balance: its cost is the sum of its ring's costs and
// within its budget, and the ring and the map hold the same entries.
func (c *promptCache) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	sum := 0
	inRing := map[string]*cached{}
	for _, e := range c.ring {
		sum += e.cost
		if inRing[e.text] != nil {
			t.Errorf("%q is in the ring twice", e.text)
		}
		inRing[e.text] = e
	}
	if sum != c.cost {
		t.Errorf("the cache counts a cost of %d; its entries cost %d", c.cost, sum)
	}
	if c.cost > c.budget {
		t.Errorf("the cache holds %d, more than its budget of %d", c.cost, c.budget)
	}
	inMap := 0
	c.m.Range(func(k, v any) bool {
		inMap++
		if inRing[k.(string)] != v.(*cached) {
			t.Errorf("%q is in the map but not in the ring", k)
		}
		return true
	})
	if inMap != len(inRing) {
		t.Errorf("the map holds %d entries, the ring %d", inMap, len(inRing))
	}
}

func TestTheCacheKeepsItsBooksUnderConcurrentUse(t *testing.T) {
	tests := []struct {
		name   string
		budget int
		texts  int
	}{
		{"a cache with room for every prompt", 1 << 30, 200},
		{"a cache with room for a few prompts at a time", 20 << 10, 200},
		{"a cache with room for one prompt at a time", 3 << 10, 50},
		{"a cache with room for no prompt", 100, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRenderer(nil, tt.budget, MaxHookCost, MaxHeavyWork)
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := range 400 {
						n := (i*7 + g*13) % tt.texts
						text := "Pod {{.ResourceName}} " + strconv.Itoa(n) + strings.Repeat(" {{.Reason}}", n%20)
						if n%10 == 0 {
							text += "{{nope}}" // refused: errors are cached too
						}
						if _, err := r.Render(text, anEvent()); (err != nil) != (n%10 == 0) {
							t.Errorf("Render(%q) = %v", text, err)
							return
						}
					}
				})
			}
			wg.Wait()
			r.cache.check(t)
		})
	}
}

func TestTheCacheDropsWhatWasNotUsedFirst(t *testing.T) {
	r := newRenderer(nil, 1<<30, MaxHookCost, MaxHeavyWork)
	texts := make([]string, 10)
	cost := 0
	for i := range texts {
		texts[i] = fmt.Sprintf("prompt %d {{.Reason}}", i)
		if err := r.Check(texts[i]); err != nil {
			t.Fatal(err)
		}
	}
	r.cache.mu.Lock()
	cost = r.cache.cost
	r.cache.budget = cost // full
	for _, e := range r.cache.ring {
		e.used.Store(false) // as if the hand had passed
	}
	r.cache.mu.Unlock()
	// Prompts 0 to 4 are used again; a new one must push out one of 5 to 9.
	for _, text := range texts[:5] {
		if err := r.Check(text); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Check("a new prompt {{.Reason}}"); err != nil {
		t.Fatal(err)
	}
	r.cache.check(t)
	for i, text := range texts {
		_, kept := r.cache.m.Load(text)
		if i < 5 && !kept {
			t.Errorf("prompt %d, used again, was dropped", i)
		}
	}
	if _, kept := r.cache.m.Load("a new prompt {{.Reason}}"); !kept {
		t.Error("the new prompt was not kept")
	}
}

func TestAPromptCostingMoreThanTheCacheRendersWithoutBeingKept(t *testing.T) {
	r := newRenderer(nil, 1024, MaxHookCost, MaxHeavyWork)
	text := tenK("{{print", " ((((((((.Reason))))))))", "}}")
	for range 2 {
		if _, err := r.Render(text, anEvent()); err != nil {
			t.Fatal(err)
		}
	}
	r.cache.check(t)
	if _, kept := r.cache.m.Load(text); kept {
		t.Error("a prompt costing more than the whole cache was kept")
	}
}

func TestAPromptRefusedForItsHooksBudgetIsNotKept(t *testing.T) {
	kept, refused := "kept {{.Reason}} {{.Message}}", "refused {{.Reason}} {{.Message}} {{.Namespace}}"
	r := newRenderer(nil, MaxCacheCost, 1, MaxHeavyWork)
	t1, err := compile(kept)
	if err != nil {
		t.Fatal(err)
	}
	r.hookBudget = t1.Cost() // room for the first prompt only
	b := r.HookBudget()
	if err := b.Check(kept); err != nil {
		t.Fatal(err)
	}
	if err := b.Check(refused); !errors.Is(err, ErrHookBudget) {
		t.Fatalf("Check = %v, want ErrHookBudget", err)
	}
	if _, ok := r.cache.m.Load(kept); !ok {
		t.Error("the prompt within the budget is not in the cache")
	}
	if _, ok := r.cache.m.Load(refused); ok {
		t.Error("the prompt refused for the budget is in the cache")
	}
	r.cache.check(t)
}
