package app

import (
	"errors"
	"fmt"
	"net/http"
	"path"
	"sync/atomic"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// MinLoopStallTimeout is the least time the background loop may go without a heartbeat
// before HealthzCheck fails; the real bound is the larger of this and three status flush
// intervals (the loop wakes at least once per flush interval).
const MinLoopStallTimeout = 2 * time.Minute

// health is what the probes know: whether this replica leads, and when the leader's
// background loop last ran.
type health struct {
	elected <-chan struct{} // the manager's Elected(); closed when this replica leads
	// lastBeat and leadingSince are clock readings in Unix nanoseconds; zero means never.
	lastBeat     atomic.Int64
	leadingSince atomic.Int64
}

// beat records that the background loop is alive. The loop calls it on every wake-up.
func (k *Khook) beat() { k.health.lastBeat.Store(k.now().UnixNano()) }

func (k *Khook) now() time.Time { return provideClock(k.Options).Now() }

func (k *Khook) leads() bool {
	if k.health.elected == nil {
		return false
	}
	select {
	case <-k.health.elected:
		return true
	default:
		return false
	}
}

func (k *Khook) serving() bool {
	select {
	case <-k.ready:
		return true
	default:
		return false
	}
}

var errNotServing = errors.New("leader, but the Hooks are not loaded or the event sources have not all been started yet")

// ReadyzCheck is the readiness of this replica as a Pod: the leader is ready once its Hooks
// are loaded and every event source has been started and has run or failed once (Ready is
// closed; a source that is down is named by SourcesReadyzCheck, not here); a replica that does not lead is
// ready as a standby, so that a rollout and a PodDisruptionBudget count it as available. Add
// it with mgr.AddReadyzCheck; the command serves it at /readyz (and /readyz/khook).
func (k *Khook) ReadyzCheck() healthz.Checker {
	return func(*http.Request) error {
		if !k.leads() || k.serving() {
			return nil
		}
		return errNotServing
	}
}

// LeaderReadyzCheck passes only on the leader once it serves (Hooks loaded, sources started):
// "is this the replica handling events?". Asked for alone (its own path, /readyz/leader), a
// standby fails it. In the aggregate /readyz, which must stay ready on a standby, it always
// passes: controller-runtime serves every check there, and the request's path tells the two
// apart.
func (k *Khook) LeaderReadyzCheck() healthz.Checker {
	return func(req *http.Request) error {
		if req != nil && isAggregate(req) {
			return nil
		}
		if !k.leads() {
			return errors.New("standing by: another replica leads")
		}
		if !k.serving() {
			return errNotServing
		}
		return nil
	}
}

// SourcesReadyzCheck is the readiness detail of the event sources: asked for alone (at
// /readyz/sources) it fails while an enabled source is not running, naming each and why (a
// source that failed is restarted with backoff; khook keeps serving the others), and on a
// standby, which runs none. In the aggregate /readyz it always passes: one failing source must
// not take the replica out of its Services (the metrics, the other sources' webhooks).
func (k *Khook) SourcesReadyzCheck() healthz.Checker {
	return func(req *http.Request) error {
		if req != nil && isAggregate(req) {
			return nil
		}
		if !k.leads() {
			return errors.New("standing by: the event sources run on the leader")
		}
		return k.Sources.Ready()
	}
}

// isAggregate reports whether a healthz.Handler serves req at its root (all checks together)
// rather than one check by name: the handler sees the path with its prefix stripped.
func isAggregate(req *http.Request) bool {
	p := path.Clean("/" + req.URL.Path)
	return p == "/"
}

// HealthzCheck fails when the leader's background loop (status writes, sweeps, retries) has
// not run for LoopStallTimeout: the process is stuck and should be restarted. A standby, which
// runs no loop, is always healthy. Add it with mgr.AddHealthzCheck.
func (k *Khook) HealthzCheck() healthz.Checker {
	return func(*http.Request) error {
		if !k.leads() {
			return nil
		}
		now := k.now()
		limit := k.LoopStallTimeout()
		last := k.health.lastBeat.Load()
		if last == 0 {
			// Leading, but the loop has not run yet: allow it the same time to start.
			k.health.leadingSince.CompareAndSwap(0, now.UnixNano())
			if waited := now.Sub(time.Unix(0, k.health.leadingSince.Load())); waited > limit {
				return fmt.Errorf("background loop has not started %s after this replica began to lead (limit %s)", waited.Round(time.Second), limit)
			}
			return nil
		}
		if quiet := now.Sub(time.Unix(0, last)); quiet > limit {
			return fmt.Errorf("background loop stuck: last ran %s ago (limit %s)", quiet.Round(time.Second), limit)
		}
		return nil
	}
}

// LoopStallTimeout is how long the background loop may go without running before HealthzCheck
// fails: three status flush intervals, at least MinLoopStallTimeout.
func (k *Khook) LoopStallTimeout() time.Duration {
	return max(MinLoopStallTimeout, 3*k.Options.StatusFlushInterval)
}
