package app

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/matching"
	"github.com/khook-dev/khook/domain/pipeline"
	"github.com/khook-dev/khook/domain/templating"
	"github.com/khook-dev/khook/ports"
	"github.com/khook-dev/khook/ports/portstest"
)

var (
	loopsAgent = hook.AgentRef{Namespace: "kagent", Name: "a"}
	loopsHook  = hook.Hook{Ref: hook.Ref{Namespace: "apps", Name: "one"}, UID: "uid-one", Generation: 1,
		Configurations: []hook.Configuration{{EventType: event.PodRestart, Agent: loopsAgent, Prompt: "{{.ResourceName}}"}}}
	loopsEvent = event.Event{Type: event.PodRestart, ResourceKind: "Pod", Namespace: "apps", ResourceName: "web-1", Reason: "BackOff",
		Message: "Back-off restarting failed container", Source: "kubernetes"}
)

// startLoops runs the background loops of a Khook around a pipeline with a fake clock and the
// given agent and status writer, with short real intervals; it returns the pipeline, the clock
// and a function that stops the loops and returns what Start returned.
func startLoops(t *testing.T, agent ports.AgentCaller, status ports.HookStatusWriter) (*pipeline.Pipeline, *clocktesting.FakeClock, func() error) {
	t.Helper()
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	p, err := pipeline.New(pipeline.Dependencies{Index: matching.NewIndex(), Store: dedup.NewStore(clk, 10*time.Minute),
		Renderer: templating.NewRenderer(), Agent: agent, Audit: &portstest.AuditLog{}, Status: status, Clock: clk},
		pipeline.Options{Delivery: delivery.Options{RetryInitial: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if c := p.UpsertHook(context.Background(), loopsHook); !c.Status {
		t.Fatalf("hook not accepted: %s", c.Message)
	}
	k := &Khook{Pipeline: p, Log: logr.Discard(), ready: make(chan struct{}), Options: Options{StatusCoalesceDelay: 5 * time.Millisecond,
		TickInterval: 5 * time.Millisecond, StatusFlushInterval: time.Minute, CleanupInterval: time.Minute, ShutdownTimeout: 5 * time.Second}.withDefaults()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&loopsRunnable{k: k}).Start(ctx) }()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				stopErr = errors.New("the loops did not stop")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	return p, clk, stop
}

// within waits for c, failing the test after a generous deadline.
func within(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not happen", what)
	}
}

func TestDueDeliveriesRunWhileAStatusWriteIsHeldUp(t *testing.T) {
	retried := make(chan struct{})
	agent := &portstest.Agent{OnSend: func(_ context.Context, _ ports.AgentRequest, n int) (ports.Task, error) {
		if n == 0 {
			return ports.Task{}, errors.New("HTTP 503")
		}
		if n == 1 {
			close(retried)
		}
		return ports.Task{ID: "t", State: ports.TaskWorking}, nil
	}}
	writing, release := make(chan struct{}), make(chan struct{})
	var releaseOnce, writingOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	status := &portstest.StatusWriter{Fail: func(hook.Ref, ports.HookActivity) error {
		writingOnce.Do(func() { close(writing) })
		select { // a slow API server
		case <-release:
		case <-time.After(time.Minute):
		}
		return nil
	}}
	p, clk, stop := startLoops(t, agent, status)
	p.Handle(context.Background(), loopsEvent) // the send fails; the retry is due in a minute
	within(t, writing, "the status write")
	clk.Step(2 * time.Minute)
	within(t, retried, "the retry, while the status write is held up,")
	releaseOnce.Do(func() { close(release) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := status.Activity(loopsHook.Ref); len(got.Events) != 1 || got.Events[0].Deliveries[0].State != string(delivery.Working) {
		t.Fatalf("the final status write says %+v, want the retried delivery working", got.Events)
	}
}

func TestAHookWhoseStatusWriteFailedIsWrittenOnceItsBackoffIsOverAndOthersMeanwhile(t *testing.T) {
	other := hook.Hook{Ref: hook.Ref{Namespace: "apps", Name: "two"}, UID: "uid-two", Generation: 1, Configurations: loopsHook.Configurations}
	var mu sync.Mutex
	failing := true
	otherWritten, written := make(chan struct{}), make(chan struct{})
	var otherOnce, writtenOnce sync.Once
	status := &portstest.StatusWriter{Fail: func(ref hook.Ref, _ ports.HookActivity) error {
		if ref == other.Ref {
			otherOnce.Do(func() { close(otherWritten) })
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return errors.New("admission webhook \"policy\" denied the request")
		}
		writtenOnce.Do(func() { close(written) })
		return nil
	}}
	p, clk, _ := startLoops(t, &portstest.Agent{}, status)
	if c := p.UpsertHook(context.Background(), other); !c.Status {
		t.Fatalf("hook not accepted: %s", c.Message)
	}
	p.Handle(context.Background(), loopsEvent) // both Hooks fire; one Hook's write fails
	within(t, otherWritten, "the other Hook's status write")
	mu.Lock()
	failing = false
	mu.Unlock()
	clk.Step(time.Second) // the failed Hook's backoff is over
	within(t, written, "the write after the backoff")
}
