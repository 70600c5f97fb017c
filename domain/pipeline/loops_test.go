package pipeline_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/pipeline"
	"github.com/khook-dev/khook/ports"
)

var loopTiming = pipeline.Timing{Tick: time.Second, Coalesce: time.Second, Flush: time.Minute, Sweep: time.Minute, Drain: 5 * time.Second}

// run runs the pipeline's loops on the fixture's fake clock until the test ends, or until the
// returned stop is called (it returns once Run has).
func (f *fixture) run(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.p.Run(ctx, f.clock, loopTiming, nil) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Error("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// until steps the fake clock by step, a little at a time, until check holds; it fails the test
// if it never does (the loops run on their own goroutine: the clock moves until they catch up).
func (f *fixture) until(t *testing.T, step time.Duration, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen", what)
		}
		f.clock.Step(step)
		time.Sleep(time.Millisecond) // let the loops' goroutine run; correctness does not depend on it
	}
}

func TestRunWritesAChangeAfterTheCoalesceDelay(t *testing.T) {
	f := newFixture(t, pipeline.Options{}, newHook("apps", "one", onRestart(agentA, "x")))
	ref := hook.Ref{Namespace: "apps", Name: "one"}
	f.run(t)
	f.handle(restart)
	f.until(t, 100*time.Millisecond, "the status write", func() bool { return f.status.Writes(ref) > 0 })
	if a := f.status.Activity(ref); len(a.Events) != 1 {
		t.Fatalf("written %+v, want the firing", a.Events)
	}
}

func TestRunRunsDueDeliveriesWhileAStatusWriteIsHeldUp(t *testing.T) {
	f := newFixture(t, pipeline.Options{Delivery: delivery.Options{RetryInitial: time.Minute}}, newHook("apps", "one", onRestart(agentA, "x")))
	ref := hook.Ref{Namespace: "apps", Name: "one"}
	var sends sync.WaitGroup
	sends.Add(2)
	f.agent.OnSend = func(_ context.Context, _ ports.AgentRequest, n int) (ports.Task, error) {
		defer sends.Done()
		if n == 0 {
			return ports.Task{}, errors.New("HTTP 503")
		}
		return ports.Task{ID: "t", State: ports.TaskWorking}, nil
	}
	writing, release := make(chan struct{}), make(chan struct{})
	var writingOnce, releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	f.status.Fail = func(hook.Ref, ports.HookActivity) error {
		writingOnce.Do(func() { close(writing) })
		<-release // a slow API server
		return nil
	}
	stop := f.run(t)
	f.p.Handle(context.Background(), restart) // the send fails; the retry is due in a minute
	f.until(t, 100*time.Millisecond, "the status write", func() bool {
		select {
		case <-writing:
			return true
		default:
			return false
		}
	})
	retried := make(chan struct{})
	go func() { sends.Wait(); close(retried) }()
	f.until(t, 10*time.Second, "the retry, while the status write is held up,", func() bool {
		select {
		case <-retried:
			return true
		default:
			return false
		}
	})
	releaseOnce.Do(func() { close(release) })
	stop()
	if got := f.investigation(t, ref, "web-1"); got.Deliveries[0].State != string(delivery.Working) {
		t.Fatalf("the final write says %+v, want the retried delivery working", got.Deliveries)
	}
}

func TestRunWritesAHookWhoseWriteFailedOnceItsBackoffIsOverAndOthersMeanwhile(t *testing.T) {
	one, two := newHook("apps", "one", onRestart(agentA, "x")), newHook("apps", "two", onRestart(agentA, "y"))
	f := newFixture(t, pipeline.Options{StatusRetryInitial: time.Minute, StatusRetryMax: time.Minute}, one, two)
	var mu sync.Mutex
	var failed []time.Time
	f.status.Fail = func(ref hook.Ref, _ ports.HookActivity) error {
		mu.Lock()
		defer mu.Unlock()
		if ref == one.Ref && len(failed) < 1 {
			failed = append(failed, f.clock.Now())
			return errors.New(`admission webhook "policy" denied the request`)
		}
		return nil
	}
	f.run(t)
	f.handle(restart) // both Hooks fire; one Hook's first write fails
	f.until(t, 100*time.Millisecond, "the other Hook's write", func() bool { return f.status.Writes(two.Ref) > 0 })
	f.until(t, time.Second, "the failed Hook's write after its backoff", func() bool { return f.status.Writes(one.Ref) > 0 })
	mu.Lock()
	defer mu.Unlock()
	if waited := f.clock.Since(failed[0]); waited < time.Minute {
		t.Fatalf("the failed Hook was written again %s after its failure, want its backoff of a minute first", waited)
	}
}

func TestRunStopsSendingAtShutdownAndWritesTheFinalStatus(t *testing.T) {
	f := newFixture(t, pipeline.Options{}, newHook("apps", "one", onRestart(agentA, "x")))
	ref := hook.Ref{Namespace: "apps", Name: "one"}
	stop := f.run(t)
	stop()
	e := restart
	e.ResourceName = "after-the-stop"
	f.handle(e) // handled after the stop: recorded, never sent
	if n := len(f.agent.Calls("send", hook.AgentRef{})); n != 0 {
		t.Fatalf("%d sends after the stop", n)
	}
	if err := f.p.FlushStatus(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if inv := f.investigation(t, ref, "after-the-stop"); inv.Deliveries[0].State != string(delivery.Pending) {
		t.Fatalf("investigation %+v, want the firing recorded and its delivery pending for the next leader", inv)
	}
}

func TestRunWritesAtShutdownWhatAHookBackingOffStillHasToWrite(t *testing.T) {
	f := newFixture(t, pipeline.Options{StatusRetryInitial: time.Hour, StatusRetryMax: time.Hour}, newHook("apps", "one", onRestart(agentA, "x")))
	ref := hook.Ref{Namespace: "apps", Name: "one"}
	var mu sync.Mutex
	failures := 0
	f.inv.Fail = func(ports.Investigation) error {
		mu.Lock()
		defer mu.Unlock()
		if failures == 0 {
			failures++
			return context.Canceled // as when shutdown cancels a write under way
		}
		return nil
	}
	stop := f.run(t)
	f.handle(restart)
	f.until(t, 100*time.Millisecond, "the failed write", func() bool { mu.Lock(); defer mu.Unlock(); return failures > 0 })
	stop() // the Hook's backoff of an hour is not over
	if inv := f.investigation(t, ref, restart.ResourceName); len(inv.Deliveries) != 1 {
		t.Fatalf("investigation %+v, want it written at shutdown with its delivery, backoff or not", inv)
	}
}
