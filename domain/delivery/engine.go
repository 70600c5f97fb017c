package delivery

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
	"github.com/khook-dev/khook/ports"
)

// ErrGone says a record has nobody left to tell: the firing is over. Preparer returns it; the
// record is abandoned.
var ErrGone = errors.New("the firing is over")

// ErrAwaitingEvent says a record's event is not known well enough to render its prompt: its
// details were not kept across a restart. Preparer returns it; the record waits for the next
// sight of the event (it is tried again every RetryInitial, which is not an attempt).
var ErrAwaitingEvent = errors.New("the event's details were not kept across the restart; waiting for its next sight")

// Preparer builds the message of a record at send time, from the configuration that tells its
// agent (as its Hook's Assignment has it now) and the firing's latest occurrence. An error other
// than ErrGone and ErrAwaitingEvent (a prompt that cannot be rendered) makes the record
// undeliverable.
type Preparer interface {
	Prepare(r Record, c hook.Configuration) (ports.AgentRequest, error)
}

// Dependencies of the engine; Metrics, Logger, Changed and Rand are optional.
type Dependencies struct {
	Agent   ports.AgentCaller
	Prepare Preparer
	Audit   ports.AuditRecorder
	Clock   ports.Clock
	Metrics ports.DeliveryMetrics
	Logger  *slog.Logger
	// Changed is told of every incident whose records changed, outside the engine's lock.
	Changed func(hook.Ref, incident.Key)
	// Rand returns a number in [0, 1) for jitter.
	Rand func() float64
}

// entry is a record and what the engine knows of it beyond the ledger.
type entry struct {
	rec  Record
	slot int // in the schedule; -1 when not scheduled
	// queued: in its lane's queue; busy: a send or poll is under way; followed: counted in its
	// lane's working; awaitingIntent: at most once, its send waits for the intent to be written.
	queued, busy, followed, awaitingIntent bool
	// detached: no longer in the ledger (a newer firing, the agent dropped from the Hook, the
	// Hook deleted): what happens to it is audited but changes no status.
	detached bool
	// ended: the firing resolved; no more attempts.
	ended bool
	// recovered: its agent's recovery already gave it a new round; the next one comes only when
	// its Hook changes (Revive).
	recovered bool
	// parked: pending, but its Hook does not let the engine tell its agent now (see Configure):
	// neither queued nor scheduled.
	parked bool
	// probe: scheduled (while undeliverable) to ask its absent agent again; see agentAbsent.
	probe     bool
	pollEvery time.Duration
}

// Engine delivers firings to agents. Make one with New; it is safe for concurrent use.
type Engine struct {
	deps Dependencies
	opts Options

	mu       sync.Mutex
	closed   bool
	ledger   map[hook.Ref]map[incident.Key][]*entry
	assigned map[hook.Ref]*assignment // what each Hook asks (Configure)
	lanes    map[hook.AgentRef]*lane
	timeline schedule
	// undeliverable indexes the undeliverable records by agent, for a cheap revival.
	undeliverable map[hook.AgentRef]map[*entry]struct{}

	work       sync.WaitGroup // sends and polls under way
	sendCtx    context.Context
	cancelSend context.CancelFunc
	pollCtx    context.Context
	cancelPoll context.CancelFunc
}

// New returns an engine, or an error naming a missing dependency or a wrong option.
func New(deps Dependencies, opts Options) (*Engine, error) {
	switch {
	case deps.Agent == nil:
		return nil, errors.New("delivery: dependency Agent is nil")
	case deps.Prepare == nil:
		return nil, errors.New("delivery: dependency Prepare is nil")
	case deps.Audit == nil:
		return nil, errors.New("delivery: dependency Audit is nil")
	case deps.Clock == nil:
		return nil, errors.New("delivery: dependency Clock is nil")
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	if deps.Metrics == nil {
		deps.Metrics = noMetrics{}
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Changed == nil {
		deps.Changed = func(hook.Ref, incident.Key) {}
	}
	if deps.Rand == nil {
		deps.Rand = rand.Float64
	}
	e := &Engine{deps: deps, opts: opts.WithDefaults(), ledger: map[hook.Ref]map[incident.Key][]*entry{}, lanes: map[hook.AgentRef]*lane{},
		assigned:      map[hook.Ref]*assignment{},
		undeliverable: map[hook.AgentRef]map[*entry]struct{}{}}
	e.sendCtx, e.cancelSend = context.WithCancel(context.Background())
	e.pollCtx, e.cancelPoll = context.WithCancel(context.Background())
	return e, nil
}

// Options returns the options in effect, defaults filled in.
func (e *Engine) Options() Options { return e.opts }

// Ensure makes the ledger of firing f name the agents its Hook's Assignment tells of f's event
// type: each without a record gets a pending one (or, with alreadyTold, a completed one: the
// firing was told before the ledger existed); records of agents held are kept as they are;
// records of agents no longer named are dropped unless the agent is at work on the firing, which
// is still followed. A newer firing of the key replaces the older one's records. A Hook the
// engine has no Assignment for (not yet configured, or removed) gets no ledger.
func (e *Engine) Ensure(f Firing, alreadyTold bool) {
	fx := e.begin()
	defer fx.end()
	as := e.assigned[f.Hook]
	if as == nil {
		return
	}
	agents := as.agents(f.Key.Type)
	now := e.deps.Clock.Now()
	byKey := e.ledger[f.Hook]
	if byKey == nil {
		byKey = map[incident.Key][]*entry{}
		e.ledger[f.Hook] = byKey
	}
	current := byKey[f.Key]
	if len(current) > 0 && !current[0].rec.FirstSeen.Equal(f.FirstSeen) {
		for _, en := range current {
			e.detach(fx, en)
		}
		current = nil
	}
	kept := make([]*entry, 0, len(agents))
	for _, en := range current {
		named := slices.Contains(agents, en.rec.Agent) || as.holds(f.Key.Type, en.rec.Agent)
		if named && !slices.ContainsFunc(kept, func(k *entry) bool { return k.rec.Agent == en.rec.Agent }) {
			kept = append(kept, en)
			continue
		}
		e.detach(fx, en)
		fx.changed(en)
	}
	for _, a := range agents {
		if slices.ContainsFunc(kept, func(k *entry) bool { return k.rec.Agent == a }) {
			continue
		}
		en := &entry{slot: -1, rec: Record{Firing: f, Agent: a, MessageID: MessageID(f, a), State: Pending, UpdatedAt: now}}
		if alreadyTold {
			en.rec.State, en.rec.SentAt, en.rec.Summary = Completed, f.FirstSeen, "told before the delivery ledger was kept"
		} else {
			e.enqueue(fx, en)
		}
		kept = append(kept, en)
		fx.changed(en)
	}
	if len(kept) > 1 {
		sort.Slice(kept, func(i, j int) bool { return kept[i].rec.Agent.String() < kept[j].rec.Agent.String() })
	}
	byKey[f.Key] = kept
}

// End stops trying to deliver firing (ref, key): records that wait (pending, parked, or for an
// intent) and those that could not be delivered are abandoned: a firing that is over is not
// undeliverable. Tasks the agents already work on are still followed to their end.
func (e *Engine) End(ref hook.Ref, key incident.Key) {
	fx := e.begin()
	defer fx.end()
	for _, en := range e.ledger[ref][key] {
		en.ended = true
		switch {
		case en.awaitingIntent:
			en.awaitingIntent = false
			e.freeSend(fx, en.rec.Agent)
			e.settle(fx, en, Abandoned, CauseFiringOver, "the event resolved before the agent was told")
		case en.rec.State == Pending:
			e.unschedule(en)
			en.parked = false
			e.settle(fx, en, Abandoned, CauseFiringOver, "the event resolved before the agent was told")
		case en.rec.State == Undeliverable:
			e.unschedule(en)
			e.settle(fx, en, Abandoned, en.rec.Cause, en.rec.LastError+"; the event resolved before the agent could be told")
		}
	}
}

// Forget takes firing (ref, key) out of the ledger: its entry was forgotten. A task an agent
// still works on is followed to its end, for the audit trail.
func (e *Engine) Forget(ref hook.Ref, key incident.Key) {
	fx := e.begin()
	defer fx.end()
	for _, en := range e.ledger[ref][key] {
		en.ended = true
		e.detach(fx, en)
	}
	delete(e.ledger[ref], key)
}

// Drop forgets hook ref: the Hook is gone. Sends under way finish; nothing is followed further.
func (e *Engine) Drop(ref hook.Ref) {
	fx := e.begin()
	defer fx.end()
	for _, records := range e.ledger[ref] {
		for _, en := range records {
			e.detach(fx, en)
			e.unfollow(fx, en)
			e.unschedule(en)
		}
	}
	delete(e.ledger, ref)
	delete(e.assigned, ref)
}

// Snapshot returns the records of Hook ref's incident key, ordered by agent, and the at-most-once
// sends waiting for a write of them to hold their intent: tell them how the write went (see
// Intents).
func (e *Engine) Snapshot(ref hook.Ref, key incident.Key) (records []Record, intents Intents) {
	e.mu.Lock()
	defer e.mu.Unlock()
	intents.e = e
	for _, en := range e.ledger[ref][key] {
		records = append(records, en.rec)
		if en.awaitingIntent {
			intents.waiting = append(intents.waiting, en)
		}
	}
	return records, intents
}

// UnderWay reports whether some record of Hook ref's incident key has not ended: an agent at
// work on it, or a send still to go.
func (e *Engine) UnderWay(ref hook.Ref, key incident.Key) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, en := range e.ledger[ref][key] {
		if !en.rec.State.Final() {
			return true
		}
	}
	return false
}

// Records returns every record of Hook ref, ordered by incident and agent.
func (e *Engine) Records(ref hook.Ref) []Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Record
	for _, list := range e.ledger[ref] {
		for _, en := range list {
			out = append(out, en.rec)
		}
	}
	sortRecords(out)
	return out
}

// Tally counts Hook ref's records by state, for its status.
func (e *Engine) Tally(ref hook.Ref) map[State]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[State]int{}
	for _, list := range e.ledger[ref] {
		for _, en := range list {
			out[en.rec.State]++
		}
	}
	return out
}

// Restore loads the records of Hook ref read back after a restart (from its investigations),
// unless the engine already holds records of the Hook (its own are newer). Pending records are scheduled, followed tasks are polled again, and a
// send the last process did not see through is sent again (at least once) or recorded as unknown
// (at most once).
func (e *Engine) Restore(ref hook.Ref, records []Record) bool {
	fx := e.begin()
	defer fx.end()
	if len(e.ledger[ref]) > 0 || len(records) == 0 {
		return false
	}
	now := e.deps.Clock.Now()
	byKey := map[incident.Key][]*entry{}
	for _, r := range records {
		r.Hook = ref
		en := &entry{slot: -1, rec: r}
		switch r.State {
		case Pending:
			e.schedule(en, laterOf(r.NextAt, now))
		case Sending:
			e.deps.Metrics.DeliveryUncertain(r.Agent, ports.UncertainRestart)
			if e.opts.Guarantee == AtMostOnce {
				e.settle(fx, en, Unknown, "", "khook stopped while sending; at most once, it is not sent again")
				fx.audit(en, ports.AuditDeliveryUncertain, true, fmt.Sprintf("agent %s may or may not have been told of %s (khook stopped during the send); not sent again (at-most-once)", r.Agent, r.Key.Describe()))
			} else {
				en.rec.State = Pending
				e.schedule(en, now)
			}
		case Submitted, Working:
			e.follow(en)
			en.pollEvery = e.opts.PollInitial
			e.schedule(en, now)
		case Undeliverable:
			e.indexUndeliverable(en, true)
			if forLackOfAgent(r) {
				e.lane(r.Agent).failing = true // as far as the ledger knows; its next accepted send revives r
			}
		}
		byKey[r.Key] = append(byKey[r.Key], en)
	}
	for _, list := range byKey {
		sort.Slice(list, func(i, j int) bool { return list[i].rec.Agent.String() < list[j].rec.Agent.String() })
	}
	e.ledger[ref] = byKey
	return true
}

// RunDue starts what is due now: retries whose wait is over, polls of followed tasks, and the
// investigation deadline of tasks that outlived it.
func (e *Engine) RunDue() {
	fx := e.begin()
	defer fx.end()
	if e.closed {
		return
	}
	now := e.deps.Clock.Now()
	for len(e.timeline) > 0 && !e.timeline[0].rec.NextAt.After(now) {
		en := heap.Pop(&e.timeline).(*entry)
		switch en.rec.State {
		case Pending:
			e.enqueue(fx, en)
		case Undeliverable:
			if en.probe {
				e.probe(fx, en)
			}
		case Submitted, Working:
			if now.Sub(en.rec.SentAt) >= e.opts.InvestigationTimeout {
				e.endInvestigation(fx, en, TimedOut)
				e.settle(fx, en, TimedOut, "", fmt.Sprintf("no end within %s", e.opts.InvestigationTimeout))
				fx.audit(en, ports.AuditInvestigationEnded, true, fmt.Sprintf("agent %s: task %s about %s timed out after %s; khook stopped following it",
					en.rec.Agent, en.rec.TaskID, en.rec.Key.Describe(), e.opts.InvestigationTimeout))
				continue
			}
			if !en.busy {
				en.busy = true
				e.work.Add(1)
				go e.poll(en)
			}
		}
	}
}

// Shutdown stops the engine (Stop) and drains it (Drain).
func (e *Engine) Shutdown(ctx context.Context) error {
	e.Stop()
	return e.Drain(ctx)
}

// Stop makes the engine start nothing more: no send, no poll. Sends waiting for their intent go
// back to pending. It returns at once; what is under way goes on (see Drain).
func (e *Engine) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	for _, byKey := range e.ledger {
		for _, list := range byKey {
			for _, en := range list {
				if en.awaitingIntent {
					en.awaitingIntent = false
					e.lane(en.rec.Agent).sending--
					en.rec.State = Pending
				}
			}
		}
	}
	e.cancelPoll()
}

// Drain waits for the sends under way to finish (polls are cancelled) until ctx is done; then
// it cancels the sends and waits for them to return. Call Stop first.
func (e *Engine) Drain(ctx context.Context) error {
	done := make(chan struct{})
	go func() { e.work.Wait(); close(done) }()
	select {
	case <-done:
		e.cancelSend()
		return nil
	case <-ctx.Done():
		e.cancelSend()
		<-done
		return fmt.Errorf("sends cancelled at shutdown: %w", ctx.Err())
	}
}

// Wait blocks until no send or poll is under way. Tests use it.
func (e *Engine) Wait() { e.work.Wait() }

// QueueDepth returns how many records wait for a slot of agent.
func (e *Engine) QueueDepth(agent hook.AgentRef) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if l := e.lanes[agent]; l != nil {
		return l.queue.len()
	}
	return 0
}

func (e *Engine) lane(agent hook.AgentRef) *lane {
	l := e.lanes[agent]
	if l == nil {
		l = &lane{agent: agent}
		e.lanes[agent] = l
	}
	return l
}

func (e *Engine) schedule(en *entry, at time.Time) {
	en.rec.NextAt = at
	e.timeline.add(en)
}

func (e *Engine) unschedule(en *entry) {
	e.timeline.drop(en)
	if en.queued {
		en.queued = false
		l := e.lane(en.rec.Agent)
		l.queue.remove(en)
		e.deps.Metrics.QueueDepth(l.agent, l.queue.len())
	}
}

// detach takes en out of the ledger: a newer firing, or the agent or the Hook went away.
// Waiting attempts are cancelled; a task at work is still followed to its end.
func (e *Engine) detach(fx *effects, en *entry) {
	en.detached = true
	e.indexUndeliverable(en, false)
	if en.awaitingIntent {
		en.awaitingIntent = false
		e.freeSend(fx, en.rec.Agent)
	}
	if !en.followed {
		e.unschedule(en)
	}
}

// settle puts en in a state nothing follows up by itself, with why it is there.
func (e *Engine) settle(fx *effects, en *entry, state State, cause Cause, why string) {
	en.rec.LastError, en.rec.Cause = why, cause
	en.rec.NextAt = time.Time{}
	e.transition(fx, en, state)
}

func (e *Engine) transition(fx *effects, en *entry, state State) {
	if en.rec.State == state {
		return
	}
	e.indexUndeliverable(en, false)
	en.rec.State = state
	if state == Undeliverable && !en.detached {
		e.indexUndeliverable(en, true)
	}
	en.rec.UpdatedAt = e.deps.Clock.Now()
	if !en.detached {
		fx.changed(en)
	}
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func orNothing(s string) string {
	if s == "" {
		return "(no summary)"
	}
	return s
}

func sortRecords(rs []Record) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Key != rs[j].Key {
			return rs[i].Key.String() < rs[j].Key.String()
		}
		return rs[i].Agent.String() < rs[j].Agent.String()
	})
}

type noMetrics struct{}

func (noMetrics) SendFinished(hook.AgentRef, string, time.Duration) {}

func (noMetrics) InvestigationFinished(hook.AgentRef, string, time.Duration) {}
func (noMetrics) RetryScheduled(hook.AgentRef)                               {}
func (noMetrics) QueueDepth(hook.AgentRef, int)                              {}
func (noMetrics) DeliveryUncertain(hook.AgentRef, string)                    {}
