package app

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/healthz"

	"github.com/khook-dev/khook/adapters/sources"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

// replica is a Khook as the probes see it: leading or not, serving or not.
type replica struct {
	k       *Khook
	clock   *clocktesting.FakeClock
	elected chan struct{}
}

func newReplica(flush time.Duration) *replica {
	clk := clocktesting.NewFakeClock(time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC))
	r := &replica{clock: clk, elected: make(chan struct{})}
	r.k = &Khook{ready: make(chan struct{}), Options: Options{Clock: clk, StatusFlushInterval: flush}.withDefaults()}
	r.k.health.elected = r.elected
	return r
}

func (r *replica) lead() *replica  { close(r.elected); return r }
func (r *replica) serve() *replica { close(r.k.ready); return r }

func TestReadiness(t *testing.T) {
	tests := []struct {
		name    string
		replica func() *replica
		path    string // as controller-runtime's handler sees it, the /readyz prefix stripped
		check   func(*Khook) healthz.Checker
		ready   bool
	}{
		{"a standby is ready as a standby", func() *replica { return newReplica(0) }, "", (*Khook).ReadyzCheck, true},
		{"a leader still loading its Hooks is not ready", func() *replica { return newReplica(0).lead() }, "", (*Khook).ReadyzCheck, false},
		{"a leader whose sources run is ready", func() *replica { return newReplica(0).lead().serve() }, "", (*Khook).ReadyzCheck, true},
		{"asked alone, the leader check fails on a standby", func() *replica { return newReplica(0) }, "/leader", (*Khook).LeaderReadyzCheck, false},
		{"asked alone, the leader check fails on a leader still loading", func() *replica { return newReplica(0).lead() }, "/leader", (*Khook).LeaderReadyzCheck, false},
		{"asked alone, the leader check passes on a serving leader", func() *replica { return newReplica(0).lead().serve() }, "/leader", (*Khook).LeaderReadyzCheck, true},
		{"in the aggregate, the leader check lets a standby be ready", func() *replica { return newReplica(0) }, "", (*Khook).LeaderReadyzCheck, true},
		{"in the aggregate with a trailing slash too", func() *replica { return newReplica(0) }, "/", (*Khook).LeaderReadyzCheck, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.replica()
			req := httptest.NewRequest(http.MethodGet, "http://probe/", nil)
			req.URL.Path = tt.path
			err := tt.check(r.k)(req)
			if (err == nil) != tt.ready {
				t.Fatalf("check = %v, want ready: %v", err, tt.ready)
			}
		})
	}
}

// TestTheProbeEndpointsAsTheManagerServesThem mounts the checks the way controller-runtime's
// manager does (a healthz.Handler under /readyz, its prefix stripped) and asks over HTTP.
func TestTheProbeEndpointsAsTheManagerServesThem(t *testing.T) {
	tests := []struct {
		name       string
		replica    func() *replica
		readyz     int // controller-runtime answers 500 to a failed check
		readyzLead int
	}{
		{"a standby answers /readyz 200 and fails /readyz/leader", func() *replica { return newReplica(0) }, 200, 500},
		{"a loading leader fails both", func() *replica { return newReplica(0).lead() }, 500, 500},
		{"a serving leader answers 200 on both", func() *replica { return newReplica(0).lead().serve() }, 200, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.replica()
			h := &healthz.Handler{Checks: map[string]healthz.Checker{"khook": r.k.ReadyzCheck(), "leader": r.k.LeaderReadyzCheck()}}
			mux := http.NewServeMux()
			mux.Handle("/readyz", http.StripPrefix("/readyz", h))
			mux.Handle("/readyz/", http.StripPrefix("/readyz", h))
			for path, want := range map[string]int{"/readyz": tt.readyz, "/readyz/": tt.readyz, "/readyz/leader": tt.readyzLead, "/readyz/khook": tt.readyz} {
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != want {
					t.Errorf("GET %s = %d (%s), want %d", path, rec.Code, rec.Body, want)
				}
			}
		})
	}
}

func TestLiveness(t *testing.T) {
	tests := []struct {
		name    string
		flush   time.Duration
		leads   bool
		steps   []time.Duration // advance the clock by each, then probe
		beatAt  int             // the loop beats before this step; -1: never
		healthy bool            // after the last step
	}{
		{"a standby runs no loop and is healthy", time.Minute, false, []time.Duration{time.Hour}, -1, true},
		{"a leader whose loop beat a minute ago is healthy", time.Minute, true, []time.Duration{time.Minute}, 0, true},
		{"a leader whose loop has not beaten for 3m1s is stuck", time.Minute, true, []time.Duration{3*time.Minute + time.Second}, 0, false},
		{"the limit is never below two minutes", 10 * time.Second, true, []time.Duration{119 * time.Second}, 0, true},
		{"below two minutes' flush, two minutes and a second is stuck", 10 * time.Second, true, []time.Duration{121 * time.Second}, 0, false},
		{"a long flush interval stretches the limit to three of them", 10 * time.Minute, true, []time.Duration{29 * time.Minute}, 0, true},
		{"a leader whose loop has not started yet gets the same time to start", time.Minute, true, []time.Duration{0, 2 * time.Minute}, -1, true},
		{"a leader whose loop never starts is stuck", time.Minute, true, []time.Duration{0, 3*time.Minute + time.Second}, -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReplica(tt.flush)
			if tt.leads {
				r.lead()
			}
			check := r.k.HealthzCheck()
			var err error
			for i, d := range tt.steps {
				if i == tt.beatAt {
					r.k.beat()
				}
				r.clock.Step(d)
				err = check(nil)
			}
			if (err == nil) != tt.healthy {
				t.Fatalf("check = %v, want healthy: %v", err, tt.healthy)
			}
		})
	}
}

// failingSource is an event source whose Watch always fails, as a source whose endpoint is down.
type failingSource struct{}

func (failingSource) Info() ports.SourceInfo {
	return ports.SourceInfo{Name: "flaky-alerts", EventTypes: []event.Type{"flaky-alert"}}
}
func (failingSource) Init(context.Context, ports.Settings) error { return nil }
func (failingSource) Watch(context.Context, ports.EventSink, func()) error {
	return errors.New("connection refused")
}
func (failingSource) Stop(context.Context) error { return nil }

type discard struct{}

func (discard) Handle(context.Context, event.Event) {}

// TestTheSourcesDetailNamesAFailingSourceWithoutTakingTheReplicaOutOfItsServices runs the
// sources as the leader does (runSources, which closes Ready) with one that never comes up, as
// Prometheus unreachable at start, a webhook port taken or a plugin whose Watch always fails.
func TestTheSourcesDetailNamesAFailingSourceWithoutTakingTheReplicaOutOfItsServices(t *testing.T) {
	reg := sources.NewRegistry()
	if err := reg.Register(failingSource{}, true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	router, err := sources.NewRouter(ctx, reg, nil, nil, nil, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	r := newReplica(0).lead() // the Hooks are loaded; Ready is left to the sources
	r.k.Sources, r.k.Log = router, logr.Discard()
	done := make(chan error, 1)
	go func() { done <- r.k.runSources(ctx, discard{}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runSources: %v", err)
		}
	})
	h := &healthz.Handler{Checks: map[string]healthz.Checker{"khook": r.k.ReadyzCheck(), "leader": r.k.LeaderReadyzCheck(), "sources": r.k.SourcesReadyzCheck()}}
	mux := http.NewServeMux()
	mux.Handle("/readyz", http.StripPrefix("/readyz", h))
	mux.Handle("/readyz/", http.StripPrefix("/readyz", h))
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://probe"+path, nil))
		return rec.Code, rec.Body.String()
	}
	select { // the router starts the source, which fails, and keeps restarting it
	case <-r.k.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("Ready never closed although the only source failed: %+v", router.States())
	}
	for path, want := range map[string]int{"/readyz": http.StatusOK, "/readyz/khook": http.StatusOK, "/readyz/leader": http.StatusOK} {
		if code, body := get(path); code != want {
			t.Errorf("GET %s = %d %q, want %d: one failing source must not make the leader unready", path, code, body, want)
		}
	}
	err = r.k.SourcesReadyzCheck()(httptest.NewRequest(http.MethodGet, "http://probe/sources", nil))
	if err == nil || !strings.Contains(err.Error(), "flaky-alerts") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("the detail = %v, want it to name flaky-alerts and why", err)
	}
	if code, body := get("/readyz/sources"); code != http.StatusInternalServerError || !strings.Contains(body, "sources") {
		t.Errorf("/readyz/sources = %d %q, want 500", code, body)
	}
}
