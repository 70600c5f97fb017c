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
	"github.com/khook-dev/khook/domain/incident"
	"github.com/khook-dev/khook/domain/matching"
	"github.com/khook-dev/khook/domain/status"
	"github.com/khook-dev/khook/domain/templating"
	"github.com/khook-dev/khook/domain/volume"
	"github.com/khook-dev/khook/ports"
)

// Dependencies are the ports and domain parts the pipeline works with. Every field is required
// but Nodes, Metrics and Logger.
type Dependencies struct {
	Index          *matching.Index
	Store          *dedup.Store
	Renderer       *templating.Renderer
	Agent          ports.AgentCaller
	Audit          ports.AuditRecorder
	Status         ports.HookStatusWriter
	Investigations ports.InvestigationStore
	// Nodes tells whether a Node is ready, for Inhibition; nil inhibits nothing.
	Nodes ports.Nodes
	// Silences hold incidents from starting investigations (see UpsertSilence); nil holds
	// none. SilenceCounter, optional, counts on each Silence the incidents it held.
	Silences       *volume.Silences
	SilenceCounter ports.SilenceCounter
	Clock          ports.Clock
	Metrics        ports.Metrics
	Logger         *slog.Logger
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
	// StatusRetryInitial and StatusRetryMax space out the writes of a Hook whose status or
	// investigation writes fail: the first wait, doubling up to the second (defaults 1s and 1m).
	// Each Hook backs off on its own.
	StatusRetryInitial, StatusRetryMax time.Duration
	// AgentPolicy says which agents the Hooks of a namespace may call, with the list each Hook's
	// namespace sets (hook.Hook.AllowedAgentNamespaces); a configuration calling another agent is
	// reported on the Hook's status. The zero value leaves it to the namespaces' lists.
	AgentPolicy hook.AgentPolicy
	// Investigations bound the investigations open or waiting, and what is kept of finished ones.
	Investigations InvestigationLimits
	// Inhibition says whether trouble of Pods on a Node that is not ready starts investigations
	// (the zero value: it does not; see Inhibition).
	Inhibition Inhibition
	// Volume sets the controller-wide volume controls (every agent's budget); Hooks set their
	// own (hook.Limits), and Silences hold what they match.
	Volume Volume
}

// Pipeline runs the use case: match an event to Hooks, deduplicate it, gather each Hook's
// firings into incidents, hand each new incident to the delivery engine, and keep each
// incident's investigation and each Hook's status. Make one with New.
type Pipeline struct {
	deps      Dependencies
	opts      Options
	known     map[event.Type]bool
	delivery  *delivery.Engine
	incidents *incident.Registry
	// hookLocks makes RestoreHook, UpsertHook and RemoveHook of one Hook atomic to each other.
	hookLocks keyedLocks

	mu      sync.Mutex
	dirty   map[hook.Ref]bool                  // the Hook's status changed: write soon
	pending map[hook.Ref]map[incident.Key]bool // investigations changed: write soon
	// gathering holds the incidents that gather members until their group wait is over.
	gathering map[hook.Ref]map[incident.Key]time.Time
	versions  map[hook.Ref]map[string]string    // the version each investigation was last read or written as
	done      map[hook.Ref]map[string]time.Time // finished investigations, by name, when they ended (retention)
	records   map[hook.Ref]*bucket              // suppressed investigations a Hook may still write as objects
	written   map[hook.Ref]ports.Condition      // the Delivering condition last written
	problems  map[hook.Ref][]status.Problem
	told      map[hook.Ref][]event.Key // restored firings told before the ledger existed
	backoff   map[hook.Ref]writeBackoff
	counts    map[hook.Ref]ports.InvestigationCounts // as each Hook's status last said
	// silenced holds the incidents Silences held, looked at again when silencesAt comes (zero:
	// at the next RunDue); held counts them by Silence until the next flush.
	silenced   map[hook.Ref]map[incident.Key]time.Time // held since: zero, or when read back (see resilence)
	silencesAt time.Time
	// silencesGen counts the changes that make silencesAt zero, so that a look that began before
	// one does not put off the look it asks for.
	silencesGen uint64
	held        map[silenceRef]int64
	total       ports.InvestigationCounts // over every Hook
	changed     chan struct{}

	budgets   *volume.Budgets
	cooldowns *volume.Cooldowns
}

// New returns a pipeline, or an error naming a missing dependency or a wrong option.
func New(deps Dependencies, opts Options) (*Pipeline, error) {
	for name, missing := range map[string]bool{
		"Index": deps.Index == nil, "Store": deps.Store == nil, "Renderer": deps.Renderer == nil, "Agent": deps.Agent == nil,
		"Audit": deps.Audit == nil, "Status": deps.Status == nil, "Investigations": deps.Investigations == nil, "Clock": deps.Clock == nil,
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
	if err := opts.Investigations.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline: Options.Investigations: %w", err)
	}
	opts.Investigations = opts.Investigations.WithDefaults()
	if err := opts.Volume.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline: Options.Volume.%w", err)
	}
	p := &Pipeline{
		deps: deps, opts: opts, known: map[event.Type]bool{}, incidents: incident.NewRegistry(),
		dirty: map[hook.Ref]bool{}, pending: map[hook.Ref]map[incident.Key]bool{}, gathering: map[hook.Ref]map[incident.Key]time.Time{}, versions: map[hook.Ref]map[string]string{},
		done: map[hook.Ref]map[string]time.Time{}, records: map[hook.Ref]*bucket{},
		written: map[hook.Ref]ports.Condition{}, problems: map[hook.Ref][]status.Problem{}, told: map[hook.Ref][]event.Key{},
		backoff: map[hook.Ref]writeBackoff{}, counts: map[hook.Ref]ports.InvestigationCounts{},
		changed:  make(chan struct{}, 1),
		silenced: map[hook.Ref]map[incident.Key]time.Time{}, held: map[silenceRef]int64{},
		budgets: volume.NewBudgets(opts.Volume.MaxInvestigationsPerAgentPerHour), cooldowns: volume.NewCooldowns(opts.Volume.MaxCooldownEntries),
	}
	for _, t := range opts.KnownEventTypes {
		p.known[t] = true
	}
	engine, err := delivery.New(delivery.Dependencies{
		Agent: deps.Agent, Prepare: preparer{p}, Audit: deps.Audit, Clock: deps.Clock, Metrics: deps.Metrics,
		Logger: deps.Logger.With("part", "delivery"), Changed: p.markInvestigation,
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
// every source sends (event.Event.Bounded), and an embedder calling Handle itself should too.
// A repeat of trouble firing for every Hook it matches (an event storm) costs one lookup and one
// count, however many Hooks match.
func (p *Pipeline) Handle(ctx context.Context, e event.Event) {
	if !e.KeyFits() {
		e = e.WithKeyBounded() // an alert's labels are anything: its key must fit the status
	}
	m := p.deps.Index.Match(e)
	if m != nil && !e.Resolves() {
		// The Hooks whose selectors take the resource. A resolution goes to every Hook: one
		// that has no firing of it ignores it, and one whose selector the resource's labels
		// left since it fired still sees its trouble end.
		m = m.Select(e.SelectorLabels())
	}
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

// fire records a new firing of e's key for Hook t: it joins its subject's open incident, or opens
// one (unless the backlog suppresses it), which gathers members for the Hook's group wait before
// its agents are told (see start).
func (p *Pipeline) fire(ctx context.Context, t matching.Target, e event.Event, firstSeen time.Time) {
	p.deps.Metrics.FiringEntries(1)
	grouping := hook.GroupingOf(t.Configurations, e.Type)
	key := incident.KeyOf(e, grouping)
	inc, opened := p.incidents.Fire(t.Hook, key, e.Key(), e, firstSeen, incident.Opening{
		Name: func(k incident.Key, at time.Time) string {
			return incident.InvestigationName(t.Hook.Name, t.UID, k, at)
		},
		Suppress: func(open int) incident.Suppression { return p.backlogged(t, open) },
	})
	p.markDirty(t.Hook)
	if !opened {
		if !inc.Unrecorded {
			p.markInvestigation(t.Hook, key) // a member joined
		}
		return
	}
	subject := subjectResource(key)
	if inc.Suppressed.Reason != "" {
		p.suppressed(ctx, t.Hook, t.UID, inc)
		return
	}
	if p.deps.Logger.Enabled(ctx, slog.LevelInfo) {
		p.deps.Logger.Info("incident opened", "hook", t.Hook.String(), "incident", key.String(), "investigation", inc.Name, "reason", e.Reason)
	}
	p.deps.Audit.Record(ctx, t.Hook, ports.AuditRecord{Kind: ports.AuditFiring, Resource: subject, HookUID: t.UID,
		Message: key.Describe() + ": " + e.Message + " (investigation " + inc.Name + ")"})
	p.markInvestigation(t.Hook, key)
	if grouping.Wait > 0 {
		p.gather(t.Hook, key, p.deps.Clock.Now().Add(grouping.Wait))
		return
	}
	if h, ok := p.deps.Index.Get(t.Hook); ok {
		p.start(ctx, h, key) // to the agents the Hook names now, whatever the event matched
	}
}

// ended records that member's trouble ended for Hook ref; when it was the last member of its
// incident still firing, the incident resolves: what waits for its agents is abandoned.
func (p *Pipeline) ended(ctx context.Context, ref hook.Ref, member event.Key, why event.Resolution, resource ports.ResourceRef) {
	p.deps.Metrics.FiringEntries(-1)
	p.markDirty(ref)
	inc, closed, ok := p.incidents.Resolve(ref, member, why, p.deps.Clock.Now())
	if !ok {
		return
	}
	p.markInvestigation(ref, inc.Key)
	if !closed {
		return
	}
	p.deps.Logger.Info("incident resolved", "hook", ref.String(), "incident", inc.Key.String(), "why", string(why))
	if inc.Suppressed.Reason == incident.Silenced {
		p.unsilence(ref, inc.Key) // over: no Silence's end will start it
	}
	if inc.Suppressed.Reason == "" {
		h, _ := p.deps.Index.Get(ref)
		p.deps.Audit.Record(ctx, ref, ports.AuditRecord{Kind: ports.AuditResolved, Resource: resource, HookUID: h.UID,
			Message: fmt.Sprintf("%s resolved: %s", inc.Key.Describe(), explain(why, p.deps.Store.Window()))})
	}
	p.delivery.End(ref, inc.Key)
}

// RunDue starts what is due: the incidents whose group wait is over, then the deliveries whose
// time has come (retries, polls of followed tasks, investigation deadlines).
func (p *Pipeline) RunDue(ctx context.Context) {
	p.startDue(ctx)
	p.releaseSilenced(ctx)
	p.delivery.RunDue()
}

// Sweep resolves events not seen for the dedup window and forgets old resolved ones (and the
// incidents left with no member), then removes the finished investigations retention no longer
// keeps.
func (p *Pipeline) Sweep(ctx context.Context) {
	resolved, forgotten, changed := p.deps.Store.Sweep()
	for _, e := range resolved {
		p.ended(ctx, e.Hook, e.Key, event.Quiet, ports.ResourceRef{Kind: e.LastEvent.ResourceKind, Namespace: e.Key.Namespace, Name: e.Key.ResourceName})
	}
	for _, e := range forgotten {
		if key, gone := p.incidents.Forget(e.Hook, e.Key); gone {
			p.delivery.Forget(e.Hook, key)
			p.unsilence(e.Hook, key)
		}
	}
	for _, ref := range changed {
		p.markDirty(ref)
	}
	p.retain(ctx)
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

// subjectResource is an incident's subject as the audit trail names a resource.
func subjectResource(k incident.Key) ports.ResourceRef {
	return ports.ResourceRef{Kind: k.Subject.Kind, Namespace: k.Subject.Namespace, Name: k.Subject.Name}
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
func (noMetrics) IncidentSuppressed(string)                                  {}
func (noMetrics) Investigations(ports.InvestigationCounts)                   {}
func (noMetrics) SendFinished(hook.AgentRef, string, time.Duration)          {}
func (noMetrics) InvestigationFinished(hook.AgentRef, string, time.Duration) {}
func (noMetrics) RetryScheduled(hook.AgentRef)                               {}
func (noMetrics) QueueDepth(hook.AgentRef, int)                              {}
func (noMetrics) DeliveryUncertain(hook.AgentRef, string)                    {}
func (noMetrics) AgentUsed(hook.AgentRef)                                    {}
func (noMetrics) AgentUnused(hook.AgentRef)                                  {}
