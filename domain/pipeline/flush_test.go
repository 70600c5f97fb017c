package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/pipeline"
	"github.com/khook-dev/khook/ports"
)

func TestAFailedStatusWriteIsSignalledToBeTriedAgainSoon(t *testing.T) {
	tests := []struct {
		name string
		fail error
	}{
		{"an API server that is unavailable", errors.New("the server is currently unable to handle the request")},
		{"a conflict with another writer", errors.New("the object has been modified; please apply your changes to the latest version")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, pipeline.Options{}, newHook("apps", "one", onRestart(agentA, "x")))
			ref := hook.Ref{Namespace: "apps", Name: "one"}
			failing := true
			f.status.Fail = func(hook.Ref, ports.HookActivity) error {
				if failing {
					return tt.fail
				}
				return nil
			}
			f.handle(restart)
			drain(f.p.Changed())
			if err := f.p.FlushStatus(context.Background(), false); !errors.Is(err, tt.fail) {
				t.Fatalf("FlushStatus = %v, want the write's error wrapped", err)
			}
			select {
			case <-f.p.Changed():
			default:
				t.Fatal("the failed write was not signalled: it would wait for the next full flush")
			}
			failing = false
			f.flush(t, false) // too soon: the Hook backs off
			if n := f.status.Writes(ref); n != 0 {
				t.Fatalf("%d writes right after the failure, want none before the backoff", n)
			}
			next, ok := f.p.NextStatusWrite()
			if !ok || next.Sub(f.clock.Now()) != pipeline.DefaultStatusRetryInitial {
				t.Fatalf("NextStatusWrite = %v, %v; want in %s", next, ok, pipeline.DefaultStatusRetryInitial)
			}
			f.clock.Step(pipeline.DefaultStatusRetryInitial)
			f.flush(t, false)
			if n := f.status.Writes(ref); n != 1 {
				t.Fatalf("%d writes after the retry, want 1", n)
			}
		})
	}
}

// drain empties a coalesced signal channel.
func drain(c <-chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func TestOneHooksFailingStatusWritesSlowNoOtherHook(t *testing.T) {
	x, y := newHook("apps", "x", onRestart(agentA, "x")), newHook("apps", "y", onRestart(agentA, "y"))
	f := newFixture(t, pipeline.Options{StatusRetryInitial: time.Second, StatusRetryMax: 8 * time.Second}, x, y)
	var attempts []time.Time // of hook x's writes
	f.status.Fail = func(ref hook.Ref, _ ports.HookActivity) error {
		if ref == x.Ref {
			attempts = append(attempts, f.clock.Now())
			return errors.New("admission webhook denied the request")
		}
		return nil
	}
	f.handle(restart)
	for i := range 30 {
		e := restart
		e.ResourceName = fmt.Sprintf("api-%d", i)
		f.handle(e) // each a change for both Hooks
		before := f.status.Writes(y.Ref)
		_ = f.p.FlushStatus(context.Background(), false)
		if f.status.Writes(y.Ref) != before+1 {
			t.Fatalf("flush %d: hook y's change was not written at once while hook x's writes fail", i)
		}
		f.clock.Step(time.Second)
	}
	var gaps []time.Duration
	for i := 1; i < len(attempts); i++ {
		gaps = append(gaps, attempts[i].Sub(attempts[i-1]))
	}
	want := "[1s 2s 4s 8s 8s]"
	if fmt.Sprint(gaps) != want {
		t.Fatalf("hook x's writes came %v apart, want %s: its own backoff, doubling to the most", gaps, want)
	}
}
