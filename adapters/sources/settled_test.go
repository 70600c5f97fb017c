package sources_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/khook-dev/khook/adapters/sources"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

// hanging is a source whose Watch blocks without ever saying it runs, as one stuck dialling.
func hanging(name string) *fakeSource {
	return &fakeSource{name: name, types: []event.Type{event.Type(name + "-event")},
		behave: func(_ int, ctx context.Context, _ ports.EventSink, _ func()) error {
			<-ctx.Done()
			return nil
		}}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestTheRouterSettlesWhenEverySourceRanOrFailedOnce(t *testing.T) {
	tests := []struct {
		name    string
		sources func() []ports.EventSource
		grace   time.Duration
		// wantReady is what Ready says once settled: "" for nil, else a part of the error.
		wantReady string
		// wantRunning: Running() closes too (every source came up).
		wantRunning bool
	}{
		{"without sources it settles at once", func() []ports.EventSource { return nil }, time.Hour, "", true},
		{"when every source runs it settles, and Running closes too",
			func() []ports.EventSource { return []ports.EventSource{steady("a", "a-event"), steady("b", "b-event")} }, time.Hour, "", true},
		{"a source that never comes up (its endpoint is down) settles it after its first failure, and Ready names it",
			func() []ports.EventSource {
				return []ports.EventSource{steady("good", "good-event"),
					failing("down", func(int, func()) error { return errors.New("connection refused") })}
			}, time.Hour, "down is restarting after 1 failure(s): connection refused", false},
		{"a source whose port is taken fails at every start: the others are served all the same",
			func() []ports.EventSource {
				return []ports.EventSource{failing("webhook", func(int, func()) error { return errors.New("listen tcp :9095: bind: address already in use") }),
					steady("good", "good-event")}
			}, time.Hour, "address already in use", false},
		{"a source that panics before it runs settles it too",
			func() []ports.EventSource {
				return []ports.EventSource{steady("good", "good-event"), failing("boom", func(int, func()) error { panic("nil map") })}
			}, time.Hour, "panic: nil map", false},
		{"a source that hangs without running or failing settles it once the start grace is over",
			func() []ports.EventSource { return []ports.EventSource{steady("good", "good-event"), hanging("stuck")} },
			50 * time.Millisecond, "stuck is starting", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &sources.Config{GlobalSettings: sources.GlobalSettings{RetryAttempts: 5, RetryBackoff: time.Hour}}
			r, err := sources.NewRouter(context.Background(), newRegistry(t, tt.sources()...), cfg, nil, nil, testr.New(t))
			if err != nil {
				t.Fatal(err)
			}
			sources.SetStartGrace(r, tt.grace)
			if closed(r.Settled()) {
				t.Fatal("settled before Run started any source")
			}
			runRouter(t, r, &recorder{})
			select {
			case <-r.Settled():
			case <-time.After(10 * time.Second):
				t.Fatalf("Settled() never closed: %+v", r.States())
			}
			err = r.Ready()
			switch {
			case tt.wantReady == "" && err != nil:
				t.Errorf("Ready() = %v, want nil", err)
			case tt.wantReady != "" && (err == nil || !strings.Contains(err.Error(), tt.wantReady)):
				t.Errorf("Ready() = %v, want it to say %q", err, tt.wantReady)
			}
			if got := closed(r.Running()); got != tt.wantRunning {
				t.Errorf("Running() closed: %v, want %v", got, tt.wantRunning)
			}
		})
	}
}

func TestTheRouterWaitsForASourceStillStartingWithinItsGrace(t *testing.T) {
	good, stuck := steady("good", "good-event"), hanging("stuck")
	r, err := sources.NewRouter(context.Background(), newRegistry(t, good, stuck), nil, nil, nil, testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	sources.SetStartGrace(r, time.Hour)
	runRouter(t, r, &recorder{})
	eventually(t, 10*time.Second, func() error {
		if s := stateOf(r, "good"); s.Phase != sources.Running || stuck.attempts.Load() != 1 {
			return fmt.Errorf("good is %s, stuck started %d times", s.Phase, stuck.attempts.Load())
		}
		return nil
	})
	if closed(r.Settled()) {
		t.Fatalf("settled while stuck is still within its start grace: %+v", r.States())
	}
}
