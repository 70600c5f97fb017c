package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/matching"
	"github.com/khook-dev/khook/domain/status"
	"github.com/khook-dev/khook/domain/templating"
	"github.com/khook-dev/khook/ports"
)

// Defaults.
const (
	DefaultMaxConcurrentCalls = 8
	DefaultRetryAfter         = 30 * time.Second
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
	// MaxConcurrentCalls bounds agent calls under way at once (default 8).
	MaxConcurrentCalls int
	// RetryAfter is how long after a failed call RetryDue calls again (default 30s).
	RetryAfter time.Duration
	// KnownEventTypes are the event types some source provides; a configuration for another
	// type is reported on the Hook's status. Empty means every well-formed type is accepted.
	KnownEventTypes []event.Type
}

// Pipeline runs the use case. Make one with New.
type Pipeline struct {
	deps  Dependencies
	opts  Options
	known map[event.Type]bool

	slots    chan struct{}
	calls    sync.WaitGroup
	callCtx  context.Context
	stopCall context.CancelFunc

	mu       sync.Mutex
	closed   bool
	dirty    map[hook.Ref]bool
	changed  chan struct{}
	problems map[hook.Ref][]status.Problem
}

// New returns a pipeline, or an error naming a missing dependency.
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
	if opts.MaxConcurrentCalls <= 0 {
		opts.MaxConcurrentCalls = DefaultMaxConcurrentCalls
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = DefaultRetryAfter
	}
	known := map[event.Type]bool{}
	for _, t := range opts.KnownEventTypes {
		known[t] = true
	}
	callCtx, stop := context.WithCancel(context.Background())
	return &Pipeline{
		deps: deps, opts: opts, known: known,
		slots:   make(chan struct{}, opts.MaxConcurrentCalls),
		callCtx: callCtx, stopCall: stop,
		dirty:    map[hook.Ref]bool{},
		changed:  make(chan struct{}, 1),
		problems: map[hook.Ref][]status.Problem{},
	}, nil
}

// Handle processes one event. It returns once the event is recorded; agent calls run on.
func (p *Pipeline) Handle(ctx context.Context, e event.Event) {
	matches := p.deps.Index.Match(e)
	if len(matches) == 0 {
		p.deps.Metrics.EventObserved(e.Type, "unmatched")
		return
	}
	for _, group := range byHook(matches) {
		p.observe(ctx, group.ref, group.configs, e)
	}
}

func (p *Pipeline) observe(ctx context.Context, ref hook.Ref, configs []hook.Configuration, e event.Event) {
	log := p.deps.Logger.With("hook", ref.String(), "key", e.Key().String())
	obs := p.deps.Store.Observe(ref, e)
	p.markDirty(ref)
	if obs.Outcome == dedup.Duplicate {
		p.deps.Metrics.EventObserved(e.Type, "duplicate")
		log.Debug("duplicate event ignored", "inFlight", obs.Entry.InFlight, "notifiedAt", obs.Entry.NotifiedAt)
		p.deps.Audit.Record(ctx, ref, ports.AuditRecord{Kind: ports.AuditDuplicate,
			Message: fmt.Sprintf("%s on %s seen again within the dedup window; agent not called again", e.Type, resourceOf(e))})
		return
	}
	if obs.NewFiring {
		p.deps.Metrics.EventObserved(e.Type, "firing")
		log.Info("event firing", "reason", e.Reason)
		p.deps.Audit.Record(ctx, ref, ports.AuditRecord{Kind: ports.AuditFiring,
			Message: fmt.Sprintf("%s on %s: %s", e.Type, resourceOf(e), e.Message)})
	} else {
		p.deps.Metrics.EventObserved(e.Type, "retry")
		log.Info("event seen again while its agent call is due; calling again", "attempt", obs.Entry.Attempts)
	}
	p.dispatch(ref, configs, obs.Entry)
}

// dispatch runs the agent calls for entry in the background, bounded by MaxConcurrentCalls.
func (p *Pipeline) dispatch(ref hook.Ref, configs []hook.Configuration, entry dedup.Entry) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.deps.Store.Settle(ref, entry.Key, nil, false) // stays due for whoever runs next
		return
	}
	p.calls.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.calls.Done()
		select {
		case p.slots <- struct{}{}:
		case <-p.callCtx.Done():
			p.deps.Store.Settle(ref, entry.Key, nil, false)
			return
		}
		defer func() { <-p.slots }()
		p.deliver(p.callCtx, ref, configs, entry)
	}()
}

// deliver calls every configured agent not yet told of this firing, then settles the entry.
func (p *Pipeline) deliver(ctx context.Context, ref hook.Ref, configs []hook.Configuration, entry dedup.Entry) {
	e := entry.LastEvent
	var delivered []string
	complete := true
	for _, c := range configs {
		target := c.Agent.String()
		if entry.Delivered[target] {
			continue
		}
		if err := p.call(ctx, ref, c, e, idempotencyKey(ref, entry, c.Agent)); err != nil {
			complete = false
			continue
		}
		delivered = append(delivered, target)
	}
	p.deps.Store.Settle(ref, entry.Key, delivered, complete)
	p.markDirty(ref)
}

func (p *Pipeline) call(ctx context.Context, ref hook.Ref, c hook.Configuration, e event.Event, idempotencyKey string) error {
	log := p.deps.Logger.With("hook", ref.String(), "key", e.Key().String(), "agent", c.Agent.String())
	prompt, err := p.deps.Renderer.Render(c.Prompt, e)
	if err != nil {
		log.Error("rendering prompt failed", "error", err)
		p.deps.Audit.Record(ctx, ref, ports.AuditRecord{Kind: ports.AuditTemplateFailed, Warning: true,
			Message: fmt.Sprintf("prompt for %s on %s: %v", e.Type, resourceOf(e), err)})
		return fmt.Errorf("rendering prompt for hook %s: %w", ref, err)
	}
	req := ports.AgentRequest{
		Hook: ref, Agent: c.Agent, Prompt: prompt,
		EventName: string(e.Type), EventTime: e.Timestamp, ResourceName: e.ResourceName,
		Context: contextFor(ref, e), IdempotencyKey: idempotencyKey,
	}
	p.deps.Metrics.CallsInFlight(1)
	start := p.deps.Clock.Now()
	resp, err := p.deps.Agent.Call(ctx, req)
	took := p.deps.Clock.Since(start)
	p.deps.Metrics.CallsInFlight(-1)
	if err == nil && !resp.Success {
		err = fmt.Errorf("agent reported failure: %s", resp.Message)
	}
	if err != nil {
		p.deps.Metrics.AgentCallFinished(c.Agent, "failure", took)
		log.Error("agent call failed; the event stays due for a retry", "error", err, "took", took)
		p.deps.Audit.Record(ctx, ref, ports.AuditRecord{Kind: ports.AuditAgentFailed, Warning: true,
			Message: fmt.Sprintf("agent %s for %s on %s: %v", c.Agent, e.Type, resourceOf(e), err)})
		return fmt.Errorf("calling agent %s for hook %s: %w", c.Agent, ref, err)
	}
	p.deps.Metrics.AgentCallFinished(c.Agent, "success", took)
	log.Info("agent called", "requestID", resp.RequestID, "took", took)
	p.deps.Audit.Record(ctx, ref, ports.AuditRecord{Kind: ports.AuditAgentCalled,
		Message: fmt.Sprintf("agent %s told of %s on %s (request %s)", c.Agent, e.Type, resourceOf(e), resp.RequestID)})
	return nil
}

// RetryDue calls the agents again for firing events whose last call failed at least RetryAfter
// ago. It returns how many entries it dispatched.
func (p *Pipeline) RetryDue(ctx context.Context) int {
	due := p.deps.Store.TakeDue(p.opts.RetryAfter)
	for _, entry := range due {
		h, ok := p.deps.Index.Get(entry.Hook)
		configs := h.ConfigurationsFor(entry.Key.Type)
		if !ok || len(configs) == 0 {
			// The hook or its configuration went away: nobody is left to tell. The entry stays
			// not notified (status must not claim a call that never happened) and resolves
			// when the trouble stops.
			p.deps.Store.Settle(entry.Hook, entry.Key, nil, false)
			continue
		}
		p.deps.Logger.Info("retrying agent call", "hook", entry.Hook.String(), "key", entry.Key.String(), "attempt", entry.Attempts)
		p.dispatch(entry.Hook, configs, entry)
	}
	return len(due)
}

// Sweep resolves events not seen for the dedup window and forgets old resolved ones.
func (p *Pipeline) Sweep(ctx context.Context) {
	resolved, changed := p.deps.Store.Sweep()
	for _, e := range resolved {
		p.deps.Audit.Record(ctx, e.Hook, ports.AuditRecord{Kind: ports.AuditResolved,
			Message: fmt.Sprintf("%s on %s not seen for %s; resolved", e.Key.Type, e.Key.ResourceName, p.deps.Store.Window())})
	}
	for _, ref := range changed {
		p.markDirty(ref)
	}
}

// FlushStatus writes the active events of every hook that changed since the last flush. A hook
// whose write fails stays marked and is written by the next flush.
func (p *Pipeline) FlushStatus(ctx context.Context) error {
	p.mu.Lock()
	refs := make([]hook.Ref, 0, len(p.dirty))
	for ref := range p.dirty {
		refs = append(refs, ref)
	}
	p.dirty = map[hook.Ref]bool{}
	p.mu.Unlock()
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	var errs []error
	for _, ref := range refs {
		if _, ok := p.deps.Index.Get(ref); !ok {
			continue // deleted: nothing to write to
		}
		active := status.ActiveEvents(p.deps.Store.Snapshot(ref))
		if err := p.deps.Status.WriteActiveEvents(ctx, ref, active); err != nil {
			p.markDirty(ref)
			errs = append(errs, fmt.Errorf("writing status of hook %s: %w", ref, err))
		}
	}
	return errors.Join(errs...)
}

// Changed is signalled (without blocking, coalesced) whenever some hook's status needs a flush.
func (p *Pipeline) Changed() <-chan struct{} { return p.changed }

func (p *Pipeline) markDirty(ref hook.Ref) {
	p.mu.Lock()
	p.dirty[ref] = true
	p.mu.Unlock()
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// UpsertHook validates h, indexes its usable configurations, and returns its Accepted condition.
// Configurations with a refused template, an event type no source provides, or a malformed event
// type are left out and named in the condition; the rest work.
func (p *Pipeline) UpsertHook(ctx context.Context, h hook.Hook) ports.Condition {
	usable := h
	usable.Configurations = nil
	var problems []status.Problem
	for i, c := range h.Configurations {
		field := fmt.Sprintf("spec.eventConfigurations[%d]", i)
		if err := c.EventType.Validate(); err != nil {
			problems = append(problems, status.Problem{Reason: status.ReasonUnknownEventType, Field: field + ".eventType", Message: err.Error()})
			continue
		}
		if len(p.known) > 0 && !p.known[c.EventType] {
			problems = append(problems, status.Problem{Reason: status.ReasonUnknownEventType, Field: field + ".eventType",
				Message: fmt.Sprintf("no event source provides %q (known: %s)", c.EventType, p.knownList())})
			continue
		}
		if c.Agent.Name == "" || c.Agent.Namespace == "" {
			problems = append(problems, status.Problem{Reason: status.ReasonInvalidAgent, Field: field, Message: "agent name and namespace are required"})
			continue
		}
		if err := p.deps.Renderer.Check(c.Prompt); err != nil {
			problems = append(problems, status.Problem{Reason: status.ReasonTemplateRefused, Field: field + ".prompt", Message: err.Error()})
			continue
		}
		usable.Configurations = append(usable.Configurations, c)
	}
	p.deps.Index.Upsert(usable)
	cond := status.Accepted(problems)
	p.mu.Lock()
	previous := p.problems[h.Ref]
	p.problems[h.Ref] = problems
	p.mu.Unlock()
	if len(problems) > 0 && fmt.Sprint(previous) != fmt.Sprint(problems) {
		p.deps.Audit.Record(ctx, h.Ref, ports.AuditRecord{Kind: ports.AuditHookNotAccepted, Warning: true, Message: cond.Message})
	}
	return cond
}

// RestoreHook loads a hook's dedup state from its status, unless this process already holds
// newer state for it. It reports whether it restored anything.
func (p *Pipeline) RestoreHook(ref hook.Ref, active []ports.ActiveEvent) bool {
	return p.deps.Store.Restore(ref, status.Entries(ref, active))
}

// RemoveHook stops matching for ref and drops its state.
func (p *Pipeline) RemoveHook(ref hook.Ref) {
	p.deps.Index.Remove(ref)
	p.deps.Store.Drop(ref)
	p.mu.Lock()
	delete(p.dirty, ref)
	delete(p.problems, ref)
	p.mu.Unlock()
}

// Shutdown stops taking new calls and waits for those under way until ctx is done; then it
// cancels them and waits for them to return. Entries of cancelled calls stay due.
func (p *Pipeline) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.calls.Wait(); close(done) }()
	select {
	case <-done:
		p.stopCall()
		return nil
	case <-ctx.Done():
		p.stopCall()
		<-done
		return fmt.Errorf("agent calls cancelled at shutdown: %w", ctx.Err())
	}
}

// Wait blocks until no agent call is under way. Tests use it.
func (p *Pipeline) Wait() { p.calls.Wait() }

func (p *Pipeline) knownList() string {
	names := make([]string, 0, len(p.known))
	for t := range p.known {
		names = append(names, string(t))
	}
	sort.Strings(names)
	return fmt.Sprint(names)
}

type hookGroup struct {
	ref     hook.Ref
	configs []hook.Configuration
}

// byHook groups matches per hook, keeping the index's order.
func byHook(matches []matching.Match) []hookGroup {
	var groups []hookGroup
	for _, m := range matches {
		if n := len(groups); n > 0 && groups[n-1].ref == m.Hook {
			groups[n-1].configs = append(groups[n-1].configs, m.Configuration)
			continue
		}
		groups = append(groups, hookGroup{ref: m.Hook, configs: []hook.Configuration{m.Configuration}})
	}
	return groups
}

// idempotencyKey names one firing of one key for one hook and agent: stable across retries and
// restarts (FirstSeen is restored from status), different for the next firing.
func idempotencyKey(ref hook.Ref, entry dedup.Entry, agent hook.AgentRef) string {
	sum := sha256.Sum256([]byte(ref.String() + "|" + entry.Key.String() + "|" + agent.String() + "|" + entry.FirstSeen.UTC().Format(time.RFC3339)))
	return hex.EncodeToString(sum[:16])
}

func resourceOf(e event.Event) string {
	if e.Namespace == "" {
		return e.ResourceName
	}
	return e.Namespace + "/" + e.ResourceName
}

func contextFor(ref hook.Ref, e event.Event) map[string]string {
	ctx := map[string]string{
		"hook": ref.String(), "eventType": string(e.Type), "namespace": e.Namespace,
		"resourceName": e.ResourceName, "resourceKind": e.ResourceKind, "reason": e.Reason,
		"source": e.Source, "timestamp": e.Timestamp.UTC().Format(time.RFC3339),
	}
	for k, v := range e.Metadata {
		if _, taken := ctx[k]; !taken {
			ctx[k] = v
		}
	}
	return ctx
}

type noMetrics struct{}

func (noMetrics) EventObserved(event.Type, string)                       {}
func (noMetrics) AgentCallFinished(hook.AgentRef, string, time.Duration) {}
func (noMetrics) CallsInFlight(int)                                      {}
