package integration

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/test/echoagent"
)

// TestAnEventStormWritesEachHooksStatusAtMostOncePerIntervalAndRepeatsWriteNothing counts the
// status writes khook makes to the API server under a storm: firing keys across 100 Hooks, then
// three repeats of every one of them. make test runs 1,000 keys; make bench the full 10,000
// (KHOOK_STORM_KEYS_PER_HOOK=100).
func TestAnEventStormWritesEachHooksStatusAtMostOncePerIntervalAndRepeatsWriteNothing(t *testing.T) {
	const hooks, agents = 100, 4
	podsPerHook := 10
	if n, err := strconv.Atoi(os.Getenv("KHOOK_STORM_KEYS_PER_HOOK")); err == nil && n > 0 {
		podsPerHook = n
	}
	agent := startAgent(t, echoagent.Options{})
	for i := range agents {
		agent.SetBehavior(fmt.Sprintf("kagent/storm-agent-%d", i), echoagent.Behavior{AnswerWithMessage: true}) // instant
	}
	cfg, requests := counting(restConfig)
	opts := fastOptions(agent.URL)
	opts.StatusCoalesceDelay = time.Second // the default: state changes are written within a second
	opts.StatusFlushInterval = time.Hour   // mere repeats wait for the full flush, which the test runs
	opts.DedupWindow = 10 * time.Minute
	opts.Delivery.MaxSendsPerAgent, opts.Delivery.MaxInvestigationsPerAgent = 8, 8
	opts.Logger = ptr.To(logr.Discard()) // a line per firing would bury the figures
	ctrl := startManagerWithConfig(t, cfg, opts, nil)
	ctrl.waitReady(t)

	namespaces := make([]string, hooks)
	for i := range namespaces {
		namespaces[i] = newNamespace(t)
		create(t, newHook(namespaces[i], "storm", fmt.Sprintf("storm-agent-%d", i%agents), "{{.ResourceName}}: {{.Message}}", "pod-restart"))
	}
	for _, ns := range namespaces {
		waitAccepted(t, ns, "storm")
	}
	writes := func() map[string]int {
		out := map[string]int{}
		for _, ns := range namespaces {
			patches, updates := requests.statusWrites(ns, "storm")
			out[ns] = patches + updates
		}
		return out
	}
	storm := func(pods int) {
		for _, ns := range namespaces {
			for p := range pods {
				ctrl.khook.Pipeline.Handle(context.Background(), event.Event{Type: event.PodRestart, ResourceKind: "Pod", Namespace: ns,
					ResourceName: fmt.Sprintf("web-%d", p), Reason: "BackOff", Message: "Back-off restarting failed container",
					Timestamp: time.Now(), Source: "storm"})
			}
		}
	}
	everyHookShows := func(events, occurrences int, nsList ...string) func() error {
		return func() error {
			for _, ns := range nsList {
				var h v1alpha2.Hook
				if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "storm"}, &h); err != nil {
					return err
				}
				if len(h.Status.ActiveEvents) != events {
					return fmt.Errorf("hook %s shows %d events, want %d", ns, len(h.Status.ActiveEvents), events)
				}
				for _, e := range h.Status.ActiveEvents {
					if e.NotifiedAt == nil || occurrences > 0 && int(e.Occurrences) != occurrences {
						return fmt.Errorf("hook %s: event %s notified %v, seen %d times; want notified, seen %d times", ns, e.ResourceName, e.NotifiedAt, e.Occurrences, occurrences)
					}
				}
			}
			return nil
		}
	}

	// 1. The storm: every firing and every delivery is a state change, written promptly but
	// coalesced, at most once per Hook per second.
	before := writes()
	began := time.Now()
	storm(podsPerHook)
	eventually(t, 5*time.Minute, everyHookShows(podsPerHook, 1, namespaces...))
	eventually(t, time.Minute, func() error { // and counts every investigation completed: nothing left to write
		for _, ns := range namespaces {
			if c := hookStatus(t, ns, "storm").Investigations; c == nil || int(c.Completed) != podsPerHook {
				return fmt.Errorf("hook %s counts %+v, want %d completed", ns, c, podsPerHook)
			}
		}
		return nil
	})
	took := time.Since(began)
	if got := len(agent.Received()); got != hooks*podsPerHook {
		t.Fatalf("the agents received %d messages, want %d: one per firing", got, hooks*podsPerHook)
	}
	allowed := int(math.Ceil(took.Seconds()/opts.StatusCoalesceDelay.Seconds())) + 1
	after := writes()
	most, total := 0, 0
	for _, ns := range namespaces {
		n := after[ns] - before[ns]
		most, total = max(most, n), total+n
		if n > allowed {
			t.Errorf("hook %s: %d status writes in %s, want at most %d (one per %s)", ns, n, took.Round(time.Millisecond), allowed, opts.StatusCoalesceDelay)
		}
	}
	t.Logf("%d firings on %d Hooks told and written in %s: %d status writes, at most %d per Hook (allowed %d)",
		hooks*podsPerHook, hooks, took.Round(time.Millisecond), total, most, allowed)

	// 2. Three repeats of every key change nothing worth writing at once. A new firing on one
	// Hook afterwards is the barrier: once it shows, any write the repeats had asked for would
	// have been made.
	settled(t, func() int { return requests.writes() }) // the writes phase 1 asked for are done
	before = writes()
	for range 3 {
		storm(podsPerHook)
	}
	ctrl.khook.Pipeline.Handle(context.Background(), event.Event{Type: event.PodRestart, ResourceKind: "Pod", Namespace: namespaces[0],
		ResourceName: "barrier", Reason: "BackOff", Message: "Back-off restarting failed container", Timestamp: time.Now(), Source: "storm"})
	eventually(t, time.Minute, everyHookShows(podsPerHook+1, 0, namespaces[0]))
	after = writes()
	for _, ns := range namespaces[1:] {
		if n := after[ns] - before[ns]; n != 0 {
			t.Errorf("hook %s: %d status writes for mere repeats, want none before the full flush", ns, n)
		}
	}

	// 3. The full flush writes the repeats (lastSeen, occurrences): once per Hook. (The first
	// Hook's were written with the barrier's firing.)
	before = writes()
	if err := ctrl.khook.Pipeline.FlushStatus(context.Background(), true); err != nil {
		t.Fatalf("full flush: %v", err)
	}
	eventually(t, time.Minute, everyHookShows(podsPerHook, 4, namespaces[1:]...))
	after = writes()
	for _, ns := range namespaces[1:] {
		if n := after[ns] - before[ns]; n != 1 {
			t.Errorf("hook %s: %d status writes in the full flush, want 1", ns, n)
		}
	}
}

// settled waits until count has not moved for three seconds (the status writes of a storm go on
// for a while after every Hook shows its firings: khook writes Hooks one after the other).
func settled(t *testing.T, count func() int) {
	t.Helper()
	last, since := count(), time.Now()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Since(since) < 3*time.Second {
		if time.Now().After(deadline) {
			t.Fatalf("khook's writes never settled (%d so far)", last)
		}
		time.Sleep(100 * time.Millisecond)
		if n := count(); n != last {
			last, since = n, time.Now()
		}
	}
}
