package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	clockadapter "github.com/khook-dev/khook/adapters/clock"
	"github.com/khook-dev/khook/adapters/kubernetes"
	"github.com/khook-dev/khook/adapters/sources"
	kubesource "github.com/khook-dev/khook/adapters/sources/kubernetes"
	"github.com/khook-dev/khook/domain/pipeline"
	"github.com/khook-dev/khook/ports"
)

// Khook is khook wired together, as SetupWithManager adds it to a manager.
type Khook struct {
	Pipeline   *pipeline.Pipeline
	Reconciler *kubernetes.HookReconciler
	// Silences keeps the pipeline's Silences in step with the cluster's.
	Silences *kubernetes.SilenceReconciler
	Sources  *sources.Router
	// Nodes is what the cluster says of its Nodes' readiness now (a ports.Nodes), kept from the
	// manager's Node informer by a runnable SetupWithManager adds, on every replica.
	Nodes   *kubesource.NodeStates
	Log     logr.Logger
	Options Options

	ready chan struct{}
	// storeClock is the dedup store's coarse clock (nil with Options.Clock); a runnable keeps it
	// fresh.
	storeClock *clockadapter.Coarse

	health health // what the probes report (health.go)
}

// Ready is closed once the leader serves: its Hooks are loaded and every enabled event source
// has been started and has either said it runs or failed at least once (or has been starting
// for sources.StartGrace). A source that is down does not hold it open: it is restarted with
// backoff, and Sources.Ready (/readyz/sources) names it.
func (k *Khook) Ready() <-chan struct{} { return k.ready }

// SetupWithManager builds khook and adds it to mgr: the Hook reconciler, the event sources and
// the background loops. Nothing runs until mgr.Start. It returns khook so that callers can reach
// the pipeline (for tests, or to feed events from their own sources).
func SetupWithManager(ctx context.Context, mgr ctrl.Manager, opts Options) (*Khook, error) {
	if mgr == nil {
		return nil, errors.New("app.SetupWithManager: manager is nil")
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("app.SetupWithManager: %w", err)
	}
	k, err := buildKhook(ctx, mgr, opts.withDefaults())
	if err != nil {
		return nil, fmt.Errorf("app.SetupWithManager: wiring: %w", err)
	}
	k.ready = make(chan struct{})
	k.health.elected = mgr.Elected()
	if err := k.Reconciler.SetupWithManager(mgr, k.Options.ControllerName); err != nil {
		return nil, fmt.Errorf("app.SetupWithManager: %w", err)
	}
	if err := k.Silences.SetupWithManager(mgr, k.Options.ControllerName+"-silences"); err != nil {
		return nil, fmt.Errorf("app.SetupWithManager: %w", err)
	}
	runnables := []manager.Runnable{k.Nodes, &sourcesRunnable{k: k, mgr: mgr}, &loopsRunnable{k: k}}
	if c := k.storeClock; c != nil {
		runnables = append(runnables, manager.RunnableFunc(func(ctx context.Context) error { c.Run(ctx); return nil }))
	}
	for _, r := range runnables {
		if err := mgr.Add(r); err != nil {
			return nil, fmt.Errorf("app.SetupWithManager: adding runnable: %w", err)
		}
	}
	return k, nil
}

// sourcesRunnable loads every Hook, then runs the event sources into the pipeline.
type sourcesRunnable struct {
	k   *Khook
	mgr ctrl.Manager
}

func (r *sourcesRunnable) NeedLeaderElection() bool { return true }

func (r *sourcesRunnable) Start(ctx context.Context) error {
	if !r.mgr.GetCache().WaitForCacheSync(ctx) {
		return errors.New("event sources: cache did not sync")
	}
	// Silences first, so that an incident restored as silenced is not let go before they are
	// known, and what they hold is held from the first event on; then Hooks and their restored
	// state, or early events would meet no hook.
	if err := r.k.Silences.LoadAll(ctx); err != nil {
		return fmt.Errorf("event sources: loading silences: %w", err)
	}
	if err := r.k.Reconciler.LoadAll(ctx); err != nil {
		return fmt.Errorf("event sources: loading hooks: %w", err)
	}
	return r.k.runSources(ctx, r.k.Pipeline)
}

// runSources runs the event sources into sink until ctx is done, and closes Ready once the
// router has settled (sources.Router.Settled): one source that never comes up (its endpoint
// down, its port taken) is then reported, not waited for. The router isolates the sources: one
// that fails is restarted and reported, and never stops khook or the others.
func (k *Khook) runSources(ctx context.Context, sink ports.EventSink) error {
	go func() {
		select {
		case <-k.Sources.Settled():
			close(k.ready) // a manager starts each runnable once
			if err := k.Sources.Ready(); err != nil {
				k.Log.Info("serving; some event sources do not run yet and are restarted with backoff (see /readyz/sources)",
					"problem", err.Error(), "eventTypes", k.Sources.EventTypes())
				return
			}
			k.Log.Info("event sources running", "sources", len(k.Sources.States()), "eventTypes", k.Sources.EventTypes())
		case <-ctx.Done():
		}
	}()
	return k.Sources.Run(ctx, sink)
}

// loopsRunnable runs the pipeline's background loops (pipeline.Pipeline.Run): due deliveries,
// status writes, the sweep, and the shutdown order. They need the leadership: only the leader
// sends and writes.
type loopsRunnable struct{ k *Khook }

func (r *loopsRunnable) NeedLeaderElection() bool { return true }

func (r *loopsRunnable) Start(ctx context.Context) error {
	o := r.k.Options
	return r.k.Pipeline.Run(ctx, provideTickerClock(o), pipeline.Timing{
		Tick: o.TickInterval, Coalesce: o.StatusCoalesceDelay, Flush: o.StatusFlushInterval, Sweep: o.CleanupInterval,
		Drain: o.ShutdownTimeout,
	}, r.k.beat)
}
