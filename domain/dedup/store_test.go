package dedup_test

import (
	"fmt"
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

// step is one thing that happens to the store, and what must come of it.
type step struct {
	after        time.Duration // clock moves forward this much first
	do           string        // "observe", "succeed", "fail", "sweep"
	wantOutcome  dedup.Outcome // for observe
	wantState    dedup.State
	wantNotified bool
}

func TestLifeOfAnEntry(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"first sight fires and a successful call marks it notified", []step{
			{do: "observe", wantOutcome: dedup.Notify, wantState: dedup.Firing},
			{do: "succeed", wantState: dedup.Firing, wantNotified: true},
		}},
		{"a repeat within the window is a duplicate", []step{
			{do: "observe", wantOutcome: dedup.Notify, wantState: dedup.Firing},
			{do: "succeed", wantState: dedup.Firing, wantNotified: true},
			{after: 9 * time.Minute, do: "observe", wantOutcome: dedup.Duplicate, wantState: dedup.Firing, wantNotified: true},
		}},
		{"a repeat while the call is still under way is a duplicate", []step{
			{do: "observe", wantOutcome: dedup.Notify, wantState: dedup.Firing},
			{after: time.Minute, do: "observe", wantOutcome: dedup.Duplicate, wantState: dedup.Firing},
		}},
		{"repeats keep the event firing past the first window", []step{
			{do: "observe", wantOutcome: dedup.Notify, wantState: dedup.Firing},
			{do: "succeed", wantState: dedup.Firing, wantNotified: true},
			{after: 8 * time.Minute, do: "observe", wantOutcome: dedup.Duplicate, wantState: dedup.Firing, wantNotified: true},
			{after: 8 * time.Minute, do: "sweep", wantState: dedup.Firing, wantNotified: true},
		}},
		{"a quiet window resolves the event and the next sight fires again", []step{
			{do: "observe", wantOutcome: dedup.Notify, wantState: dedup.Firing},
			{do: "succeed", wantState: dedup.Firing, wantNotified: true},
			{after: 10 * time.Minute, do: "sweep", wantState: dedup.Resolved, wantNotified: true},
			{after: time.Minute, do: "observe", wantOutcome: dedup.Notify, wantState: dedup.Firing},
		}},
		{"a sight after a quiet window fires again even before a sweep", []step{
			{do: "observe", wantOutcome: dedup.Notify, wantState: dedup.Firing},
			{do: "succeed", wantState: dedup.Firing, wantNotified: true},
			{after: 11 * time.Minute, do: "observe", wantOutcome: dedup.Notify, wantState: dedup.Firing},
		}},
		{"a failed call leaves the event due, so a repeat calls again", []step{
			{do: "observe", wantOutcome: dedup.Notify, wantState: dedup.Firing},
			{do: "fail", wantState: dedup.Firing},
			{after: time.Minute, do: "observe", wantOutcome: dedup.Notify, wantState: dedup.Firing},
			{do: "succeed", wantState: dedup.Firing, wantNotified: true},
			{after: time.Minute, do: "observe", wantOutcome: dedup.Duplicate, wantState: dedup.Firing, wantNotified: true},
		}},
		{"a resolved event is forgotten a window later", []step{
			{do: "observe", wantOutcome: dedup.Notify, wantState: dedup.Firing},
			{do: "succeed", wantState: dedup.Firing, wantNotified: true},
			{after: 10 * time.Minute, do: "sweep", wantState: dedup.Resolved, wantNotified: true},
			{after: 10 * time.Minute, do: "sweep"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(start)
			s := dedup.NewStore(clk, window)
			for i, st := range tt.steps {
				clk.Step(st.after)
				switch st.do {
				case "observe":
					if got := s.Observe(ref, crash).Outcome; got != st.wantOutcome {
						t.Fatalf("step %d: Observe = %v, want %v", i, got, st.wantOutcome)
					}
				case "succeed":
					s.Settle(ref, crash.Key(), []string{"apps/agent"}, true)
				case "fail":
					s.Settle(ref, crash.Key(), nil, false)
				case "sweep":
					s.Sweep()
				}
				snap := s.Snapshot(ref)
				if st.wantState == "" {
					if len(snap) != 0 {
						t.Fatalf("step %d: want the entry forgotten, have %+v", i, snap)
					}
					continue
				}
				if len(snap) != 1 {
					t.Fatalf("step %d: want one entry, have %d", i, len(snap))
				}
				if snap[0].State != st.wantState || snap[0].Notified() != st.wantNotified {
					t.Fatalf("step %d: entry is %s notified=%v, want %s notified=%v", i, snap[0].State, snap[0].Notified(), st.wantState, st.wantNotified)
				}
			}
		})
	}
}

func TestNotificationTimesAreRecorded(t *testing.T) {
	clk := clocktesting.NewFakeClock(start)
	s := dedup.NewStore(clk, window)
	s.Observe(ref, crash)
	clk.Step(30 * time.Second)
	s.Settle(ref, crash.Key(), []string{"apps/agent"}, true)
	e := s.Snapshot(ref)[0]
	if !e.FirstSeen.Equal(start) || !e.NotifiedAt.Equal(start.Add(30*time.Second)) || !e.LastNotifiedAt.Equal(e.NotifiedAt) {
		t.Fatalf("times: firstSeen=%v notifiedAt=%v lastNotifiedAt=%v", e.FirstSeen, e.NotifiedAt, e.LastNotifiedAt)
	}
	clk.Step(15 * time.Minute)
	s.Observe(ref, crash) // a new firing
	e = s.Snapshot(ref)[0]
	if !e.NotifiedAt.IsZero() || !e.LastNotifiedAt.Equal(start.Add(30*time.Second)) {
		t.Fatalf("a new firing must clear notifiedAt and keep lastNotifiedAt: %+v", e)
	}
}

func TestAPartialDeliveryRemembersWhichAgentsWereTold(t *testing.T) {
	clk := clocktesting.NewFakeClock(start)
	s := dedup.NewStore(clk, window)
	s.Observe(ref, crash)
	s.Settle(ref, crash.Key(), []string{"apps/a"}, false)
	obs := s.Observe(ref, crash)
	if obs.Outcome != dedup.Notify || !obs.Entry.Delivered["apps/a"] || obs.Entry.Delivered["apps/b"] {
		t.Fatalf("want a retry that knows apps/a was told, got %+v", obs)
	}
}

func TestTakeDueReturnsFailedEntriesOnceTheyHaveWaited(t *testing.T) {
	clk := clocktesting.NewFakeClock(start)
	s := dedup.NewStore(clk, window)
	s.Observe(ref, crash)
	s.Settle(ref, crash.Key(), nil, false)
	if due := s.TakeDue(time.Minute); len(due) != 0 {
		t.Fatalf("due too early: %+v", due)
	}
	clk.Step(time.Minute)
	due := s.TakeDue(time.Minute)
	if len(due) != 1 || due[0].LastEvent.Message != "Back-off" {
		t.Fatalf("want the failed entry with its last event, got %+v", due)
	}
	if again := s.TakeDue(0); len(again) != 0 {
		t.Fatalf("an entry in flight was taken twice: %+v", again)
	}
}

func TestRestore(t *testing.T) {
	clk := clocktesting.NewFakeClock(start)
	notified := dedup.Entry{Key: crash.Key(), State: dedup.Firing, FirstSeen: start, LastSeen: start, NotifiedAt: start}
	tests := []struct {
		name         string
		restore      []dedup.Entry
		observeFirst bool
		wantOutcome  dedup.Outcome
	}{
		{"a restored notified firing makes a repeat a duplicate", []dedup.Entry{notified}, false, dedup.Duplicate},
		{"a restored firing that was never notified is due", []dedup.Entry{{Key: crash.Key(), State: dedup.Firing, FirstSeen: start, LastSeen: start}}, false, dedup.Notify},
		{"state already in memory wins over the restored one", []dedup.Entry{notified}, true, dedup.Notify},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := dedup.NewStore(clk, window)
			if tt.observeFirst {
				s.Observe(ref, crash)
				s.Settle(ref, crash.Key(), nil, false)
			}
			s.Restore(ref, tt.restore)
			if got := s.Observe(ref, crash).Outcome; got != tt.wantOutcome {
				t.Fatalf("Observe after Restore = %v, want %v", got, tt.wantOutcome)
			}
		})
	}
}

func TestDropForgetsAHookAndSettleAfterDropIsHarmless(t *testing.T) {
	s := dedup.NewStore(clocktesting.NewFakeClock(start), window)
	s.Observe(ref, crash)
	s.Drop(ref)
	s.Settle(ref, crash.Key(), []string{"apps/agent"}, true)
	if got := s.Snapshot(ref); len(got) != 0 {
		t.Fatalf("the dropped hook still has entries: %+v", got)
	}
}

func TestConcurrentObserversNotifyOncePerKey(t *testing.T) {
	s := dedup.NewStore(clocktesting.NewFakeClock(start), window)
	var wg sync.WaitGroup
	var mu sync.Mutex
	notifies := map[string]int{}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				e := crash
				e.ResourceName = fmt.Sprintf("pod-%d", i%10)
				if s.Observe(ref, e).Outcome == dedup.Notify {
					mu.Lock()
					notifies[e.ResourceName]++
					mu.Unlock()
					s.Settle(ref, e.Key(), []string{"apps/agent"}, true)
				}
				s.Snapshot(ref)
			}
		}()
	}
	wg.Wait()
	if len(notifies) != 10 {
		t.Fatalf("want 10 keys notified, got %d", len(notifies))
	}
	for k, n := range notifies {
		if n != 1 {
			t.Fatalf("key %s notified %d times", k, n)
		}
	}
}
