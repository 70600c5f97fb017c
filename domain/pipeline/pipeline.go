package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/matching"
	"github.com/khook-dev/khook/domain/status"
	"github.com/khook-dev/khook/domain/templating"
	"github.com/khook-dev/khook/ports"
)

// Dependencies are the ports and domain parts the pipeline works with. Every field is required
// but Metrics and Logger.
type Dependencies struct {
	Index    *matching.Index
	Store    *dedup.Store
	Renderer *templating.Renderer
	Agent    ports.AgentCaller
	Audit    ports.AuditRecorder
	Status   ports.HookStatusWriter
	Clock    ports.Clock
	Metrics  ports.Metrics
	Logger   *slog.Logger
}

// Options tune the pipeline.
type Options struct {
	// KnownEventTypes are the event types some source provides; a configuration for another
	// type is reported on the Hook's status. Empty means every well-formed type is accepted.
	KnownEventTypes []event.Type
	// Delivery tunes how agents are told (see package delivery).
	Delivery delivery.Options
	// StatusLimits bound what a Hook's status shows.
	StatusLimits status.Limits
	// StatusRetryInitial and StatusRetryMax space out the writes of a Hook whose status writes
	// fail: the first wait, doubling up to the second (defaults 1s and 1m). Each Hook backs off
	// on its own.
	StatusRetryInitial, StatusRetryMax time.Duration
	// AgentPolicy says which agents the Hooks of a namespace may call, with the list each Hook's
	// namespace sets (hook.Hook.AllowedAgentNamespaces); a configuration calling another agent is
	// reported on the Hook's status. The zero value leaves it to the namespaces' lists.
	AgentPolicy hook.AgentPolicy
}

// Pipeline runs the use case: match an event to Hooks, deduplicate it, hand each new firing to
// the delivery engine, and keep each Hook's status. Make one with New.
type Pipeline struct {
	deps     Dependencies
	opts     Options
	known    map[event.Type]bool
	delivery *delivery.Engine
	// hookLocks makes RestoreHook, UpsertHook and RemoveHook of one Hook atomic to each other.
	hookLocks keyedLocks

	mu       sync.Mutex
	dirty    map[hook.Ref]bool // state changed: write soon
	deferred map[hook.Ref]bool // the API refused the last write as too large: write with the next full flush
	limits   map[hook.Ref]status.Limits
	written  map[hook.Ref]ports.Condition // the Delivering condition last written
	problems map[hook.Ref][]status.Problem
	told     map[hook.Ref][]event.Key // restored firings told before the ledger existed
	backoff  map[hook.Ref]writeBackoff
	changed  chan struct{}
}

// New returns a pipeline, or an error naming a missing dependency or a wrong option.
func New(deps Dependencies, opts Options) (*Pipeline, error) {
	for name, missing := range map[string]bool{
		"Index": deps.Index == nil, "Store": deps.Store == nil, "Renderer": deps.Renderer == nil,
		"Agent": deps.Agent == nil, "Audit": deps.Audit == nil, "Status": deps.Status == nil, "Clock": deps.Clock == nil,
	} {
		if missing {
			return nil, fmt.Errorf("pipeline: dependency %s is nil", name)
		}
	}
	if deps.Metrics == nil {
		deps.Metrics = noMetrics{}
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{
		deps: deps, opts: opts, known: map[event.Type]bool{},
		dirty: map[hook.Ref]bool{}, deferred: map[hook.Ref]bool{}, limits: map[hook.Ref]status.Limits{},
		written: map[hook.Ref]ports.Condition{}, problems: map[hook.Ref][]status.Problem{}, told: map[hook.Ref][]event.Key{},
		backoff: map[hook.Ref]writeBackoff{},
		changed: make(chan struct{}, 1),
	}
	for _, t := range opts.KnownEventTypes {
		p.known[t] = true
	}
	engine, err := delivery.New(delivery.Dependencies{
		Agent: deps.Agent, Prepare: preparer{p}, Audit: deps.Audit, Clock: deps.Clock, Metrics: deps.Metrics,
		Logger: deps.Logger.With("part", "delivery"), Changed: p.markDirty,
	}, opts.Delivery)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	p.delivery = engine
	return p, nil
}

// Handle processes one event: trouble, or its end. It returns at once; agents are told in the
// background. Parts of its key longer than Kubernetes and the Hook CRD allow are bounded first
// (event.Event.WithKeyBounded); the rest of e is kept as it is: the sources' router bounds what
// every source sends (event.Event.Bounded), and an embedder calling Handle itself should too. A repeat of trouble firing for every Hook it matches (an event storm) costs one
// lookup and one count, however many Hooks match.
func (p *Pipeline) Handle(ctx context.Context, e event.Event) {
	if !e.KeyFits() {
		e = e.WithKeyBounded() // an alert's labels are anything: its key must fit the status
	}
	m := p.deps.Index.Match(e)
	if m == nil {
		p.deps.Metrics.EventHandled(e.Source, e.Type, 0, 0, 0)
		return
	}
	observations, repeat := p.deps.Store.ObserveAll(m.Set, m.Hooks, e, nil)
	if repeat {
		p.deps.Metrics.EventHandled(e.Source, e.Type, len(m.Hooks), 0, len(m.Hooks))
		return
	}
	firing, duplicates := 0, 0
	for i, obs := range observations {
		switch obs.Outcome {
		case dedup.Duplicate:
			duplicates++
		case dedup.NewFiring:
			firing++
			p.fire(ctx, m.Targets[i], e, obs.FirstSeen)
		case dedup.Ended:
			p.ended(ctx, m.Hooks[i], e.Key(), e.Resolution, resourceOf(e))
		}
	}
	p.deps.Metrics.EventHandled(e.Source, e.Type, len(m.Hooks), firing, duplicates)
}

func (p *Pipeline) fire(ctx context.Context, t matching.Target, e event.Event, firstSeen time.Time) {
	p.deps.Metrics.FiringEntries(1)
	if p.deps.Logger.Enabled(ctx, slog.LevelInfo) {
		p.deps.Logger.Info("event firing", "hook", t.Hook.String(), "key", e.Key().String(), "reason", e.Reason)
	}
	p.deps.Audit.Record(ctx, t.Hook, ports.AuditRecord{Kind: ports.AuditFiring, Resource: resourceOf(e), HookUID: t.UID,
		Message: e.Key().Describe() + ": " + e.Message})
	p.markDirty(t.Hook)
	f := delivery.Firing{Hook: t.Hook, HookUID: t.UID, Key: e.Key(), FirstSeen: firstSeen, Resource: resourceOf(e)}
	p.delivery.Ensure(f, false) // to the agents the Hook names now, whatever the event matched

}

func (p *Pipeline) ended(ctx context.Context, ref hook.Ref, key event.Key, why event.Resolution, resource ports.ResourceRef) {
	p.deps.Metrics.FiringEntries(-1)
	p.deps.Logger.Info("event resolved", "hook", ref.String(), "key", key.String(), "why", string(why))
	h, _ := p.deps.Index.Get(ref)
	p.deps.Audit.Record(ctx, ref, ports.AuditRecord{Kind: ports.AuditResolved, Resource: resource, HookUID: h.UID,
		Message: fmt.Sprintf("%s resolved: %s", key.Describe(), explain(why, p.deps.Store.Window()))})
	p.delivery.End(ref, key)
	p.markDirty(ref)
}

// RunDue starts the deliveries whose time has come: retries, polls of followed tasks,
// investigation deadlines.
func (p *Pipeline) RunDue() { p.delivery.RunDue() }

// Sweep resolves events not seen for the dedup window and forgets old resolved ones.
func (p *Pipeline) Sweep(ctx context.Context) {
	resolved, forgotten, changed := p.deps.Store.Sweep()
	for _, e := range resolved {
		p.ended(ctx, e.Hook, e.Key, event.Quiet, ports.ResourceRef{Kind: e.LastEvent.ResourceKind, Namespace: e.Key.Namespace, Name: e.Key.ResourceName})
	}
	for _, e := range forgotten {
		p.delivery.Forget(e.Hook, e.Key)
	}
	for _, ref := range changed {
		p.markDirty(ref)
	}
}

// Stop makes the pipeline start no more sends or polls: the process is stopping, or has lost its
// leadership. Events still handled are recorded for the status write.
func (p *Pipeline) Stop() { p.delivery.Stop() }

// Drain waits for the sends under way until ctx is done, then cancels them; they stay due.
func (p *Pipeline) Drain(ctx context.Context) error {
	if err := p.delivery.Drain(ctx); err != nil {
		return fmt.Errorf("draining deliveries: %w", err)
	}
	return nil
}

// Shutdown is Stop, then Drain.
func (p *Pipeline) Shutdown(ctx context.Context) error {
	p.Stop()
	return p.Drain(ctx)
}

// Wait blocks until no send or poll is under way. Tests use it.
func (p *Pipeline) Wait() { p.delivery.Wait() }

// Delivery returns the delivery engine, for its queue depths.
func (p *Pipeline) Delivery() *delivery.Engine { return p.delivery }

func resourceOf(e event.Event) ports.ResourceRef {
	return ports.ResourceRef{Kind: e.ResourceKind, Namespace: e.Namespace, Name: e.ResourceName}
}

func explain(why event.Resolution, window time.Duration) string {
	switch why {
	case event.Recovered:
		return "the resource recovered"
	case event.Deleted:
		return "the resource was deleted"
	case event.Quiet:
		return fmt.Sprintf("not seen for %s", window)
	default:
		return string(why)
	}
}

type noMetrics struct{}

func (noMetrics) EventHandled(string, event.Type, int, int, int)             {}
func (noMetrics) FiringEntries(int)                                          {}
func (noMetrics) TemplateRefused(string)                                     {}
func (noMetrics) SendFinished(hook.AgentRef, string, time.Duration)          {}
func (noMetrics) InvestigationFinished(hook.AgentRef, string, time.Duration) {}
func (noMetrics) RetryScheduled(hook.AgentRef)                               {}
func (noMetrics) QueueDepth(hook.AgentRef, int)                              {}
func (noMetrics) DeliveryUncertain(hook.AgentRef, string)                    {}
func (noMetrics) AgentUsed(hook.AgentRef)                                    {}
func (noMetrics) AgentUnused(hook.AgentRef)                                  {}
