package dedup_test

import (
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
)

var (
	start  = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	window = 10 * time.Minute
	ref    = hook.Ref{Namespace: "apps", Name: "restarts"}
	crash  = event.Event{Type: event.PodRestart, Namespace: "apps", ResourceName: "web-1", Message: "Back-off"}
)

func stamped(e event.Event, at time.Time) event.Event {
	e.Timestamp = at
	return e
}

func resolution(why event.Resolution) event.Event {
	e := crash
	e.Resolution = why
	return e
}

// step is one thing that happens to the store, and what must come of it.
type step struct {
	after          time.Duration // clock moves forward this much first
	observe        *event.Event  // observe this event, or sweep when nil
	wantOutcome    dedup.Outcome // for observe
	wantState      dedup.State   // empty: the entry is forgotten
	wantResolution event.Resolution
	wantSights     int64
}

func observe(e event.Event) *event.Event { return &e }

func TestLifeOfAnEntry(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"first sight fires", []step{
			{observe: observe(crash), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
		}},
		{"a repeat within the window is a duplicate and counted", []step{
			{observe: observe(crash), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
			{after: 9 * time.Minute, observe: observe(crash), wantOutcome: dedup.Duplicate, wantState: dedup.Firing, wantSights: 2},
		}},
		{"repeats keep the event firing past the first window", []step{
			{observe: observe(crash), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
			{after: 8 * time.Minute, observe: observe(crash), wantOutcome: dedup.Duplicate, wantState: dedup.Firing, wantSights: 2},
			{after: 8 * time.Minute, wantState: dedup.Firing, wantSights: 2},
		}},
		{"a quiet window resolves the event as quiet and the next sight fires again", []step{
			{observe: observe(crash), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
			{after: 10 * time.Minute, wantState: dedup.Resolved, wantResolution: event.Quiet, wantSights: 1},
			{after: time.Minute, observe: observe(crash), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
		}},
		{"a sight after a quiet window fires again even before a sweep", []step{
			{observe: observe(crash), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
			{after: 11 * time.Minute, observe: observe(crash), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
		}},
		{"the source saying the resource recovered resolves the event at once", []step{
			{observe: observe(crash), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
			{after: time.Minute, observe: observe(resolution(event.Recovered)), wantOutcome: dedup.Ended, wantState: dedup.Resolved, wantResolution: event.Recovered, wantSights: 1},
		}},
		{"trouble returning right after it recovered is a new firing", []step{
			{observe: observe(crash), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
			{observe: observe(resolution(event.Deleted)), wantOutcome: dedup.Ended, wantState: dedup.Resolved, wantResolution: event.Deleted, wantSights: 1},
			{after: time.Second, observe: observe(crash), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
		}},
		{"trouble older than the resolution its source sent is ignored, newer trouble fires", []step{
			{observe: observe(stamped(crash, start)), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
			{after: 5 * time.Minute, observe: observe(resolution(event.Recovered)), wantOutcome: dedup.Ended, wantState: dedup.Resolved, wantResolution: event.Recovered, wantSights: 1},
			{after: time.Minute, observe: observe(stamped(crash, start)), wantOutcome: dedup.Ignored, wantState: dedup.Resolved, wantResolution: event.Recovered, wantSights: 1},
			{observe: observe(stamped(crash, start.Add(6*time.Minute))), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
		}},
		{"trouble that started after the end its source stamped fires, however late khook heard of the end", []step{
			{observe: observe(stamped(crash, start)), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
			{after: 5 * time.Minute, observe: observe(stamped(resolution(event.Recovered), start.Add(time.Minute))), wantOutcome: dedup.Ended, wantState: dedup.Resolved, wantResolution: event.Recovered, wantSights: 1},
			{after: time.Minute, observe: observe(stamped(crash, start.Add(2*time.Minute))), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
		}},
		{"trouble starting the moment its source ended the last fires (an alert with a new startsAt)", []step{
			{observe: observe(stamped(crash, start)), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
			{after: 3 * time.Minute, observe: observe(stamped(resolution(event.Recovered), start.Add(time.Minute))), wantOutcome: dedup.Ended, wantState: dedup.Resolved, wantResolution: event.Recovered, wantSights: 1},
			{observe: observe(stamped(crash, start.Add(time.Minute))), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
		}},
		{"after a quiet resolution any sight fires again, whatever its time", []step{
			{observe: observe(stamped(crash, start)), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
			{after: 10 * time.Minute, wantState: dedup.Resolved, wantResolution: event.Quiet, wantSights: 1},
			{observe: observe(stamped(crash, start)), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
		}},
		{"a resolution of trouble never seen is ignored", []step{
			{observe: observe(resolution(event.Recovered)), wantOutcome: dedup.Ignored},
		}},
		{"a second resolution is ignored and keeps the first reason", []step{
			{observe: observe(crash), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
			{observe: observe(resolution(event.Recovered)), wantOutcome: dedup.Ended, wantState: dedup.Resolved, wantResolution: event.Recovered, wantSights: 1},
			{observe: observe(resolution(event.Deleted)), wantOutcome: dedup.Ignored, wantState: dedup.Resolved, wantResolution: event.Recovered, wantSights: 1},
		}},
		{"a resolved event is forgotten a window after it resolved", []step{
			{observe: observe(crash), wantOutcome: dedup.NewFiring, wantState: dedup.Firing, wantSights: 1},
			{after: 5 * time.Minute, observe: observe(resolution(event.Recovered)), wantOutcome: dedup.Ended, wantState: dedup.Resolved, wantResolution: event.Recovered, wantSights: 1},
			{after: 9 * time.Minute, wantState: dedup.Resolved, wantResolution: event.Recovered, wantSights: 1},
			{after: time.Minute},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(start)
			s := dedup.NewStore(clk, window)
			for i, st := range tt.steps {
				clk.Step(st.after)
				if st.observe != nil {
					if got := s.Observe(ref, *st.observe).Outcome; got != st.wantOutcome {
						t.Fatalf("step %d: Observe = %v, want %v", i, got, st.wantOutcome)
					}
				} else {
					s.Sweep()
				}
				snap := s.Snapshot(ref)
				if st.wantState == "" {
					if len(snap) != 0 {
						t.Fatalf("step %d: want no entry, have %+v", i, snap)
					}
					continue
				}
				if len(snap) != 1 {
					t.Fatalf("step %d: want one entry, have %d", i, len(snap))
				}
				if e := snap[0]; e.State != st.wantState || e.Resolution != st.wantResolution || e.Occurrences != st.wantSights {
					t.Fatalf("step %d: entry is %s (%q) with %d sights, want %s (%q) with %d", i, e.State, e.Resolution, e.Occurrences,
						st.wantState, st.wantResolution, st.wantSights)
				}
			}
		})
	}
}

func TestAFiringKeepsTheLatestOccurrenceForRetries(t *testing.T) {
	clk := clocktesting.NewFakeClock(start)
	s := dedup.NewStore(clk, window)
	first := s.Observe(ref, crash)
	later := crash
	later.Message = "Back-off 5m0s restarting failed container"
	clk.Step(time.Minute)
	again := s.Observe(ref, later)
	e, ok := s.Get(ref, crash.Key())
	if !ok || e.LastEvent.Message != later.Message || !e.FirstSeen.Equal(start) || !e.LastSeen.Equal(start.Add(time.Minute)) {
		t.Fatalf("entry = %+v", e)
	}
	if !first.FirstSeen.Equal(start) || !again.FirstSeen.Equal(start) {
		t.Fatalf("both sights belong to the firing that started at %v: %v, %v", start, first.FirstSeen, again.FirstSeen)
	}
}

func TestSeenNamesHooksWhoseEntriesOnlyRepeatedSinceTheirSnapshot(t *testing.T) {
	s := dedup.NewStore(clocktesting.NewFakeClock(start), window)
	other := hook.Ref{Namespace: "apps", Name: "other"}
	s.Observe(ref, crash)
	s.Observe(other, crash)
	if got := s.Seen(); len(got) != 0 {
		t.Fatalf("a new firing is a state change, not a mere sight: Seen = %v", got)
	}
	s.Observe(ref, crash)
	if got := s.Seen(); len(got) != 1 || got[0] != ref {
		t.Fatalf("Seen = %v, want [%v]", got, ref)
	}
	s.Snapshot(ref)
	if got := s.Seen(); len(got) != 0 {
		t.Fatalf("Seen after the snapshot = %v, want none", got)
	}
}

func TestARestoredEntryWithoutItsEventIsPartialUntilTheNextSight(t *testing.T) {
	clk := clocktesting.NewFakeClock(start)
	s := dedup.NewStore(clk, window)
	key := crash.Key()
	s.Restore(ref, []dedup.Entry{{Hook: ref, Key: key, State: dedup.Firing, FirstSeen: start, LastSeen: start, Occurrences: 2}})
	if e, _ := s.Get(ref, key); !e.Partial || e.LastEvent.Key() != key {
		t.Fatalf("restored without its event: %+v, want partial, with its key", e)
	}
	clk.Step(time.Minute)
	s.Observe(ref, crash)
	if e, _ := s.Get(ref, key); e.Partial || e.LastEvent.Message != crash.Message {
		t.Fatalf("after a sight: %+v, want the whole event", e)
	}
}

func TestRestore(t *testing.T) {
	firing := dedup.Entry{Key: crash.Key(), State: dedup.Firing, FirstSeen: start, LastSeen: start, Occurrences: 3}
	tests := []struct {
		name         string
		restore      []dedup.Entry
		observeFirst bool
		wantOutcome  dedup.Outcome
		wantFiring   int
	}{
		{"a restored firing makes a repeat a duplicate", []dedup.Entry{firing}, false, dedup.Duplicate, 1},
		{"a restored resolved entry makes a repeat a new firing",
			[]dedup.Entry{{Key: crash.Key(), State: dedup.Resolved, FirstSeen: start, LastSeen: start, ResolvedAt: start}}, false, dedup.NewFiring, 0},
		{"state already in memory wins over the restored one", []dedup.Entry{firing}, true, dedup.Duplicate, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(start.Add(time.Minute))
			s := dedup.NewStore(clk, window)
			if tt.observeFirst {
				s.Observe(ref, crash)
			}
			if firing, _ := s.Restore(ref, tt.restore); firing != tt.wantFiring {
				t.Fatalf("Restore loaded %d firing entries, want %d", firing, tt.wantFiring)
			}
			if got := s.Observe(ref, crash).Outcome; got != tt.wantOutcome {
				t.Fatalf("Observe after Restore = %v, want %v", got, tt.wantOutcome)
			}
		})
	}
}

func TestDropForgetsAHookAndAHookOfTheSameNameStartsAfresh(t *testing.T) {
	s := dedup.NewStore(clocktesting.NewFakeClock(start), window)
	s.Observe(ref, crash)
	if firing := s.Drop(ref); firing != 1 {
		t.Fatalf("Drop reported %d firing entries, want 1", firing)
	}
	if got := s.Snapshot(ref); len(got) != 0 {
		t.Fatalf("the dropped hook still has entries: %+v", got)
	}
	if got := s.Observe(ref, crash).Outcome; got != dedup.NewFiring {
		t.Fatalf("a recreated hook sees %v, want a new firing", got)
	}
}

func TestConcurrentObserversStartOneFiringPerKey(t *testing.T) {
	s := dedup.NewStore(clocktesting.NewFakeClock(start), window)
	var wg sync.WaitGroup
	var mu sync.Mutex
	firings := map[string]int{}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				e := crash
				e.ResourceName = fmt.Sprintf("pod-%d", i%10)
				r := hook.Ref{Namespace: "apps", Name: fmt.Sprintf("hook-%d", i%3)}
				if s.Observe(r, e).Outcome == dedup.NewFiring {
					mu.Lock()
					firings[r.Name+"/"+e.ResourceName]++
					mu.Unlock()
				}
				s.Snapshot(r)
			}
		}()
	}
	wg.Wait()
	if len(firings) != 30 {
		t.Fatalf("want 30 hook/key firings, got %d", len(firings))
	}
	for k, n := range firings {
		if n != 1 {
			t.Fatalf("%s fired %d times", k, n)
		}
	}
}

// The storm path: a set of hooks that all fire a key takes its repeats as one count.

var (
	hookA, hookB, hookC = hook.Ref{Namespace: "apps", Name: "a"}, hook.Ref{Namespace: "apps", Name: "b"}, hook.Ref{Namespace: "apps", Name: "c"}
	trio                = []hook.Ref{hookA, hookB, hookC}
)

const trioSet = 7

func occurrences(t *testing.T, s *dedup.Store, refs ...hook.Ref) []int64 {
	t.Helper()
	var out []int64
	for _, r := range refs {
		e, ok := s.Get(r, crash.Key())
		if !ok {
			t.Fatalf("hook %s has no entry", r)
		}
		out = append(out, e.Occurrences)
	}
	return out
}

func TestASetOfHooksAllFiringTakesARepeatAsOneCount(t *testing.T) {
	tests := []struct {
		name string
		// then runs after the trio fired the key once and repeated it twice (three sights each).
		then            func(s *dedup.Store, clk *clocktesting.FakeClock) []dedup.Observation
		wantOutcomes    []dedup.Outcome // of the last ObserveAll; nil: it was taken as one count
		wantOccurrences []int64         // of a, b and c
	}{
		{"a further repeat is one count for all, and each hook's entry shows it",
			func(s *dedup.Store, clk *clocktesting.FakeClock) []dedup.Observation {
				clk.Step(time.Minute)
				return observeAll(s, trioSet, trio, crash)
			}, nil, []int64{4, 4, 4}},
		{"a repeat for another set of hooks is observed hook by hook",
			func(s *dedup.Store, clk *clocktesting.FakeClock) []dedup.Observation {
				return observeAll(s, trioSet+1, trio, crash)
			}, []dedup.Outcome{dedup.Duplicate, dedup.Duplicate, dedup.Duplicate}, []int64{4, 4, 4}},
		{"one hook told the trouble ended fires again while the others repeat",
			func(s *dedup.Store, clk *clocktesting.FakeClock) []dedup.Observation {
				s.Observe(hookB, resolution(event.Recovered))
				clk.Step(time.Second)
				return observeAll(s, trioSet, trio, crash)
			}, []dedup.Outcome{dedup.Duplicate, dedup.NewFiring, dedup.Duplicate}, []int64{4, 1, 4}},
		{"a repeat after the window fires again for every hook",
			func(s *dedup.Store, clk *clocktesting.FakeClock) []dedup.Observation {
				clk.Step(window)
				return observeAll(s, trioSet, trio, crash)
			}, []dedup.Outcome{dedup.NewFiring, dedup.NewFiring, dedup.NewFiring}, []int64{1, 1, 1}},
		{"a hook seen alone counts its own sight and the set takes the next repeat hook by hook",
			func(s *dedup.Store, clk *clocktesting.FakeClock) []dedup.Observation {
				s.Observe(hookC, crash)
				return observeAll(s, trioSet, trio, crash)
			}, []dedup.Outcome{dedup.Duplicate, dedup.Duplicate, dedup.Duplicate}, []int64{4, 4, 5}},
		{"a dropped hook leaves the others counting",
			func(s *dedup.Store, clk *clocktesting.FakeClock) []dedup.Observation {
				if firing := s.Drop(hookA); firing != 1 {
					panic(fmt.Sprintf("Drop reported %d firing entries, want 1", firing))
				}
				if _, ok := s.Get(hookA, crash.Key()); ok {
					panic("the dropped hook still has its entry")
				}
				return observeAll(s, trioSet, trio[1:], crash)
			}, []dedup.Outcome{dedup.Duplicate, dedup.Duplicate}, []int64{4, 4}},
		{"the same set named with fewer hooks is observed hook by hook",
			func(s *dedup.Store, clk *clocktesting.FakeClock) []dedup.Observation {
				return observeAll(s, trioSet, trio[:2], crash)
			}, []dedup.Outcome{dedup.Duplicate, dedup.Duplicate}, []int64{4, 4, 3}},
		{"a hook restored meanwhile gets its own count",
			func(s *dedup.Store, clk *clocktesting.FakeClock) []dedup.Observation {
				d := hook.Ref{Namespace: "apps", Name: "d"}
				s.Restore(d, []dedup.Entry{{Key: crash.Key(), State: dedup.Firing, FirstSeen: start, LastSeen: start, Occurrences: 9}})
				obs := observeAll(s, trioSet+1, append(slices.Clone(trio), d), crash)
				if e, _ := s.Get(d, crash.Key()); e.Occurrences != 10 {
					panic(fmt.Sprintf("the restored hook counts %d sights, want 10", e.Occurrences))
				}
				return obs
			}, []dedup.Outcome{dedup.Duplicate, dedup.Duplicate, dedup.Duplicate, dedup.Duplicate}, []int64{4, 4, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(start)
			s := dedup.NewStore(clk, window)
			for i := range 3 {
				obs := observeAll(s, trioSet, trio, crash)
				if i == 2 && obs != nil {
					t.Fatalf("the third sight of a key all three hooks fire was observed hook by hook: %v", obs)
				}
			}
			obs := tt.then(s, clk)
			var got []dedup.Outcome
			for _, o := range obs {
				got = append(got, o.Outcome)
			}
			if !reflect.DeepEqual(got, tt.wantOutcomes) {
				t.Fatalf("outcomes = %v, want %v", got, tt.wantOutcomes)
			}
			refs := trio
			if len(tt.wantOccurrences) == 2 {
				refs = trio[1:]
			}
			if got := occurrences(t, s, refs...); !reflect.DeepEqual(got, tt.wantOccurrences) {
				t.Fatalf("occurrences = %v, want %v", got, tt.wantOccurrences)
			}
		})
	}
}

// observeAll returns the observations of a sight, or nil when the store took it as one count.
func observeAll(s *dedup.Store, set uint64, refs []hook.Ref, e event.Event) []dedup.Observation {
	obs, repeat := s.ObserveAll(set, refs, e, nil)
	if repeat {
		return nil
	}
	return obs
}

func TestRepeatsTakenAsOneCountKeepTheEntriesTrue(t *testing.T) {
	clk := clocktesting.NewFakeClock(start)
	s := dedup.NewStore(clk, window)
	observeAll(s, trioSet, trio, crash)
	observeAll(s, trioSet, trio, crash)
	if got := s.Seen(); !reflect.DeepEqual(got, trio) {
		t.Fatalf("after a repeat Seen = %v, want every hook of the set", got)
	}
	for _, r := range trio {
		s.Snapshot(r)
	}
	later := crash
	later.Message = "Back-off 40s restarting failed container"
	clk.Step(time.Minute)
	if observeAll(s, trioSet, trio, later) != nil {
		t.Fatal("the repeat was not taken as one count")
	}
	if got := s.Seen(); !reflect.DeepEqual(got, trio) {
		t.Fatalf("after a repeat taken as one count Seen = %v, want every hook of the set", got)
	}
	for _, r := range trio {
		e, _ := s.Get(r, crash.Key())
		if e.Occurrences != 3 || !e.LastSeen.Equal(start.Add(time.Minute)) || e.LastEvent.Message != later.Message || !e.FirstSeen.Equal(start) {
			t.Fatalf("entry of %s = %+v", r, e)
		}
	}
	clk.Step(window)
	resolved, _, _ := s.Sweep()
	if len(resolved) != 3 {
		t.Fatalf("a quiet window resolved %d entries, want 3", len(resolved))
	}
	for _, e := range resolved {
		if e.Resolution != event.Quiet || !e.ResolvedAt.Equal(start.Add(time.Minute+window)) {
			t.Fatalf("resolved %+v, want quiet a window after the last sight", e)
		}
	}
}

func TestARepeatTakenAsOneCountAllocatesNothing(t *testing.T) {
	s := dedup.NewStore(clocktesting.NewFakeClock(start), window)
	observeAll(s, trioSet, trio, crash)
	if allocs := testing.AllocsPerRun(100, func() { s.ObserveAll(trioSet, trio, crash, nil) }); allocs != 0 {
		t.Fatalf("a repeat allocates %v times", allocs)
	}
}

func TestConcurrentSetsOfHooksStartOneFiringPerHookAndKey(t *testing.T) {
	clk := clocktesting.NewFakeClock(start)
	s := dedup.NewStore(clk, window)
	var wg sync.WaitGroup
	var mu sync.Mutex
	firings := map[string]int{}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				e := crash
				e.ResourceName = fmt.Sprintf("pod-%d", (i+w)%20)
				obs, _ := s.ObserveAll(trioSet, trio, e, nil)
				for j, o := range obs {
					if o.Outcome == dedup.NewFiring {
						mu.Lock()
						firings[trio[j].Name+"/"+e.ResourceName]++
						mu.Unlock()
					}
				}
				if i%50 == 0 {
					s.Snapshot(trio[w%3])
					s.Seen()
					s.Sweep()
				}
			}
		}()
	}
	wg.Wait()
	if len(firings) != 60 {
		t.Fatalf("want 60 hook/key firings, got %d", len(firings))
	}
	for k, n := range firings {
		if n != 1 {
			t.Fatalf("%s fired %d times", k, n)
		}
	}
	total := int64(0)
	for _, r := range trio {
		for _, e := range s.Snapshot(r) {
			total += e.Occurrences
		}
	}
	if total != 3*4*500 {
		t.Fatalf("the hooks counted %d sights, want %d", total, 3*4*500)
	}
}

func TestARestoreRacingASightKeepsTheFiringTheSightStarted(t *testing.T) {
	for round := range 200 {
		clk := clocktesting.NewFakeClock(start.Add(time.Hour))
		s := dedup.NewStore(clk, window)
		stale := []dedup.Entry{
			{Key: stamped(crash, start).Key(), State: dedup.Resolved, Resolution: event.Recovered, FirstSeen: start, LastSeen: start, ResolvedAt: start, Occurrences: 2},
		}
		for i := range 20 { // more keys, so that the restore takes a while
			e := crash
			e.ResourceName = fmt.Sprintf("other-%d", i)
			stale = append(stale, dedup.Entry{Key: e.Key(), State: dedup.Firing, FirstSeen: start, LastSeen: start, Occurrences: 1})
		}
		var obs dedup.Observation
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); s.Restore(ref, stale) }()
		go func() { defer wg.Done(); obs = s.Observe(ref, crash) }()
		wg.Wait()
		e, ok := s.Get(ref, crash.Key())
		if obs.Outcome == dedup.NewFiring && (!ok || e.State != dedup.Firing || !e.FirstSeen.Equal(obs.FirstSeen)) {
			t.Fatalf("round %d: the sight started a firing at %v, but the entry is now %+v: the restore overwrote it", round, obs.FirstSeen, e)
		}
	}
}

func TestARestoredEntryKeepsItsZeroTimes(t *testing.T) {
	s := dedup.NewStore(clocktesting.NewFakeClock(start), window)
	s.Restore(ref, []dedup.Entry{{Key: crash.Key(), State: dedup.Firing, Occurrences: 1}})
	if e, _ := s.Get(ref, crash.Key()); !e.FirstSeen.IsZero() || !e.LastSeen.IsZero() || !e.ResolvedAt.IsZero() {
		t.Fatalf("restored zero times came back as %v, %v, %v", e.FirstSeen, e.LastSeen, e.ResolvedAt)
	}
}
