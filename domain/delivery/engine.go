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
	"strings"
	"sync"
	"time"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// Guarantee is what happens to a send whose outcome a dying process could not record.
type Guarantee string

const (
	// AtLeastOnce sends again after a restart (same message id): nothing is lost, a repeat is
	// possible.
	AtLeastOnce Guarantee = "at-least-once"
	// AtMostOnce persists the intent before each send and never sends again after a restart: no
	// repeat, a loss is possible.
	AtMostOnce Guarantee = "at-most-once"
)

// Defaults.
const (
	DefaultMaxSendsPerAgent          = 2
	DefaultMaxInvestigationsPerAgent = 4
	DefaultSendTimeout               = 30 * time.Second
	DefaultRetryInitial              = 30 * time.Second
	DefaultRetryMax                  = 10 * time.Minute
	DefaultMaxAttempts               = 10
	DefaultPollInitial               = 2 * time.Second
	DefaultPollMax                   = 30 * time.Second
	DefaultInvestigationTimeout      = time.Hour
)

// Options tune the engine; zero values mean the defaults.
type Options struct {
	Guarantee Guarantee
	// MaxSendsPerAgent bounds the sends under way to one agent.
	MaxSendsPerAgent int
	// MaxInvestigationsPerAgent bounds an agent's accepted tasks in progress plus sends under way.
	MaxInvestigationsPerAgent int
	// SendTimeout bounds one send or one poll.
	SendTimeout time.Duration
	// RetryInitial is the wait after the first failed attempt; it doubles up to RetryMax.
	RetryInitial, RetryMax time.Duration
	// MaxAttempts: after this many failed attempts a record is undeliverable.
	MaxAttempts int
	// PollInitial is the wait before the first poll of a task; it doubles up to PollMax.
	PollInitial, PollMax time.Duration
	// InvestigationTimeout: a task not ended this long after it was accepted is timed out.
	InvestigationTimeout time.Duration
}

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.Guarantee == "" {
		o.Guarantee = AtLeastOnce
	}
	if o.MaxSendsPerAgent <= 0 {
		o.MaxSendsPerAgent = DefaultMaxSendsPerAgent
	}
	if o.MaxInvestigationsPerAgent <= 0 {
		o.MaxInvestigationsPerAgent = DefaultMaxInvestigationsPerAgent
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = DefaultSendTimeout
	}
	if o.RetryInitial <= 0 {
		o.RetryInitial = DefaultRetryInitial
	}
	if o.RetryMax <= 0 {
		o.RetryMax = DefaultRetryMax
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.PollInitial <= 0 {
		o.PollInitial = DefaultPollInitial
	}
	if o.PollMax <= 0 {
		o.PollMax = DefaultPollMax
	}
	if o.InvestigationTimeout <= 0 {
		o.InvestigationTimeout = DefaultInvestigationTimeout
	}
	return o
}

// Validate reports what is wrong with the options, naming the field.
func (o Options) Validate() error {
	var errs []error
	if o.Guarantee != "" && o.Guarantee != AtLeastOnce && o.Guarantee != AtMostOnce {
		errs = append(errs, fmt.Errorf("Guarantee %q is neither %s nor %s", o.Guarantee, AtLeastOnce, AtMostOnce))
	}
	if o.MaxSendsPerAgent > 0 && o.MaxInvestigationsPerAgent > 0 && o.MaxSendsPerAgent > o.MaxInvestigationsPerAgent {
		errs = append(errs, fmt.Errorf("MaxSendsPerAgent (%d) is more than MaxInvestigationsPerAgent (%d)", o.MaxSendsPerAgent, o.MaxInvestigationsPerAgent))
	}
	if o.RetryInitial > 0 && o.RetryMax > 0 && o.RetryInitial > o.RetryMax {
		errs = append(errs, fmt.Errorf("RetryInitial (%s) is longer than RetryMax (%s)", o.RetryInitial, o.RetryMax))
	}
	if o.PollInitial > 0 && o.PollMax > 0 && o.PollInitial > o.PollMax {
		errs = append(errs, fmt.Errorf("PollInitial (%s) is longer than PollMax (%s)", o.PollInitial, o.PollMax))
	}
	return errors.Join(errs...)
}

// Prefixes of Record.LastError that tell why a record is undeliverable (the ledger keeps no more
// than the text): the agent refused it for good, or its prompt cannot be rendered. Otherwise the
// retries were used up.
const (
	RefusedPrefix = "refused: "
	PromptPrefix  = "prompt: "
)

// ErrGone says a record has nobody left to tell: the Hook no longer names the agent for the
// event, or the firing is over. Preparer returns it; the record is abandoned.
var ErrGone = errors.New("the hook no longer tells this agent of this firing")

// Preparer builds the message of a record at send time from the Hook's current configuration
// and the firing's latest occurrence. An error other than ErrGone (a prompt that cannot be
// rendered) makes the record undeliverable.
type Preparer interface {
	Prepare(r Record) (ports.AgentRequest, error)
}

// Dependencies of the engine; Metrics, Logger, Changed and Rand are optional.
type Dependencies struct {
	Agent   ports.AgentCaller
	Prepare Preparer
	Audit   ports.AuditRecorder
	Clock   ports.Clock
	Metrics ports.DeliveryMetrics
	Logger  *slog.Logger
	// Changed is told of every Hook whose ledger changed, outside the engine's lock.
	Changed func(hook.Ref)
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
	// cuts counts the status writes in a row that left out its intent (at most once).
	cuts      int
	pollEvery time.Duration
}

// Engine delivers firings to agents. Make one with New; it is safe for concurrent use.
type Engine struct {
	deps Dependencies
	opts Options

	mu       sync.Mutex
	closed   bool
	ledger   map[hook.Ref]map[event.Key][]*entry
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
		deps.Changed = func(hook.Ref) {}
	}
	if deps.Rand == nil {
		deps.Rand = rand.Float64
	}
	e := &Engine{deps: deps, opts: opts.WithDefaults(), ledger: map[hook.Ref]map[event.Key][]*entry{}, lanes: map[hook.AgentRef]*lane{},
		undeliverable: map[hook.AgentRef]map[*entry]struct{}{}}
	e.sendCtx, e.cancelSend = context.WithCancel(context.Background())
	e.pollCtx, e.cancelPoll = context.WithCancel(context.Background())
	return e, nil
}

// Options returns the options in effect, defaults filled in.
func (e *Engine) Options() Options { return e.opts }

// Ensure makes the ledger of firing f name exactly the given agents: each agent without a record
// gets a pending one (or, with alreadyTold, a completed one: the firing was told before the
// ledger existed); records of agents no longer named are dropped unless the agent is at work on
// the firing, which is still followed. A newer firing of the key replaces the older one's records.
func (e *Engine) Ensure(f Firing, agents []hook.AgentRef, alreadyTold bool) {
	fx := e.begin()
	defer fx.end()
	now := e.deps.Clock.Now()
	byKey := e.ledger[f.Hook]
	if byKey == nil {
		byKey = map[event.Key][]*entry{}
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
		if slices.Contains(agents, en.rec.Agent) && !slices.ContainsFunc(kept, func(k *entry) bool { return k.rec.Agent == en.rec.Agent }) {
			kept = append(kept, en)
			continue
		}
		e.detach(fx, en)
		fx.changed(f.Hook)
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
		fx.changed(f.Hook)
	}
	if len(kept) > 1 {
		sort.Slice(kept, func(i, j int) bool { return kept[i].rec.Agent.String() < kept[j].rec.Agent.String() })
	}
	byKey[f.Key] = kept
}

// End stops trying to deliver firing (ref, key): pending records are abandoned. Tasks the agents
// already work on are still followed to their end.
func (e *Engine) End(ref hook.Ref, key event.Key) {
	fx := e.begin()
	defer fx.end()
	for _, en := range e.ledger[ref][key] {
		en.ended = true
		switch {
		case en.awaitingIntent:
			en.awaitingIntent = false
			e.freeSend(fx, en.rec.Agent)
			e.settle(fx, en, Abandoned, "the event resolved before the agent was told")
		case en.rec.State == Pending:
			e.unschedule(en)
			e.settle(fx, en, Abandoned, "the event resolved before the agent was told")
		}
	}
}

// Forget takes firing (ref, key) out of the ledger: its entry was forgotten. A task an agent
// still works on is followed to its end, for the audit trail.
func (e *Engine) Forget(ref hook.Ref, key event.Key) {
	fx := e.begin()
	defer fx.end()
	for _, en := range e.ledger[ref][key] {
		en.ended = true
		e.detach(fx, en)
	}
	delete(e.ledger[ref], key)
}

// Revive gives the undeliverable records of hook ref, and those whose attempts were used up, a
// new round of attempts: the Hook changed.
func (e *Engine) Revive(ref hook.Ref) {
	fx := e.begin()
	defer fx.end()
	for _, records := range e.ledger[ref] {
		for _, en := range records {
			en.recovered = false
			e.revive(fx, en)
		}
	}
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
	for _, l := range e.lanes {
		l.queue.forget(ref)
	}
}

// Snapshot returns the ledger of hook ref, ordered by key and agent, and a function to call once
// it is written, with the keys the write kept: at most once, that releases the sends whose intent
// the write holds, and gives back the slots of those it left out (see releaseIntents).
func (e *Engine) Snapshot(ref hook.Ref) (records []Record, written func(kept map[event.Key]bool)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var intents []*entry
	for _, list := range e.ledger[ref] {
		for _, en := range list {
			records = append(records, en.rec)
			if en.awaitingIntent {
				intents = append(intents, en)
			}
		}
	}
	sortRecords(records)
	if len(intents) == 0 {
		return records, func(map[event.Key]bool) {}
	}
	return records, func(kept map[event.Key]bool) { e.releaseIntents(intents, kept) }
}

// Restore loads the ledger of hook ref read back from its status, unless the engine already holds
// one (its own is newer). Pending records are scheduled, followed tasks are polled again, and a
// send the last process did not see through is sent again (at least once) or recorded as unknown
// (at most once).
func (e *Engine) Restore(ref hook.Ref, records []Record) bool {
	fx := e.begin()
	defer fx.end()
	if len(e.ledger[ref]) > 0 || len(records) == 0 {
		return false
	}
	now := e.deps.Clock.Now()
	byKey := map[event.Key][]*entry{}
	for _, r := range records {
		r.Hook = ref
		en := &entry{slot: -1, rec: r}
		switch r.State {
		case Pending:
			e.schedule(en, laterOf(r.NextAt, now))
		case Sending:
			if e.opts.Guarantee == AtMostOnce {
				e.settle(fx, en, Unknown, "khook stopped while sending; at most once, it is not sent again")
				fx.audit(en, ports.AuditDeliveryUncertain, true, fmt.Sprintf("agent %s may or may not have been told of %s (khook stopped during the send); not sent again (at-most-once)", r.Agent, r.Key.Describe()))
			} else {
				en.rec.State = Pending
				e.schedule(en, now)
			}
		case Submitted, Working:
			e.follow(en)
			en.pollEvery = e.opts.PollInitial
			e.schedule(en, now)
		default:
			if exhausted(r) {
				e.indexUndeliverable(en, true)
			}
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
		case Submitted, Working:
			if now.Sub(en.rec.SentAt) >= e.opts.InvestigationTimeout {
				e.endInvestigation(fx, en, TimedOut)
				e.settle(fx, en, TimedOut, fmt.Sprintf("no end within %s", e.opts.InvestigationTimeout))
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

// enqueue puts a pending record in its agent's queue and starts what the lane has room for.
func (e *Engine) enqueue(fx *effects, en *entry) {
	if en.queued || en.detached {
		return
	}
	l := e.lane(en.rec.Agent)
	en.queued = true
	l.queue.push(en)
	e.deps.Metrics.QueueDepth(l.agent, l.queue.len())
	e.pump(fx, l)
}

// pump starts sends from l's queue while the lane has room.
func (e *Engine) pump(fx *effects, l *lane) {
	popped := false
	for !e.closed && l.sending < e.opts.MaxSendsPerAgent && l.sending+l.working < e.opts.MaxInvestigationsPerAgent {
		en := l.queue.pop()
		if en == nil {
			break
		}
		popped = true
		en.queued = false
		l.sending++
		if e.opts.Guarantee == AtMostOnce {
			en.awaitingIntent = true // sent once the status holds the intent (Snapshot's written)
			e.transition(fx, en, Sending)
			continue
		}
		e.startSend(fx, en)
	}
	if popped {
		e.deps.Metrics.QueueDepth(l.agent, l.queue.len())
	}
}

// releaseIntents starts the sends whose intent a status write kept. One the write left out (the
// status had no room for it) gives its send slot back, so that it holds no slot of its agent for
// a write that may never come: it goes back to its agent's queue, behind the other Hooks' turns;
// left out again, it waits a backoff first, so that no write loop follows. Cuts are not attempts.
func (e *Engine) releaseIntents(intents []*entry, kept map[event.Key]bool) {
	fx := e.begin()
	defer fx.end()
	for _, en := range intents {
		if !en.awaitingIntent {
			continue // shut down, dropped or ended meanwhile
		}
		if !kept[en.rec.Key] {
			en.awaitingIntent = false
			e.freeSend(fx, en.rec.Agent)
			e.transition(fx, en, Pending)
			en.cuts++
			if en.cuts == 1 {
				e.enqueue(fx, en)
			} else {
				e.schedule(en, e.deps.Clock.Now().Add(e.backoff(en.cuts-1)))
			}
			continue
		}
		en.awaitingIntent, en.cuts = false, 0
		if en.detached || en.ended || e.closed {
			e.freeSend(fx, en.rec.Agent)
			e.settle(fx, en, Abandoned, "not sent: the firing ended before its turn")
			continue
		}
		e.startSend(fx, en)
	}
}

// startSend begins an attempt; the lane's sending count already includes it. A goroutine that
// has just finished a send (fx.sender) takes the first attempt it starts itself, rather than
// starting a goroutine and ending its own: under a storm one agent's sends follow each other on
// the same goroutines.
func (e *Engine) startSend(fx *effects, en *entry) {
	en.busy = true
	en.rec.Attempts++
	e.transition(fx, en, Sending)
	e.work.Add(1)
	if fx.sender && fx.next == nil {
		fx.next, fx.nextRec = en, en.rec
		return
	}
	go e.send(en, en.rec)
}

// send runs the attempt of en (rec is its record when it started), then any attempt handed to
// it by startSend.
func (e *Engine) send(en *entry, rec Record) {
	for en != nil {
		en, rec = e.sendOnce(en, rec)
	}
}

// sendOnce runs one attempt and returns the next one this goroutine takes, if any.
func (e *Engine) sendOnce(en *entry, rec Record) (*entry, Record) {
	defer e.work.Done()
	req, err := e.deps.Prepare.Prepare(rec)
	if err != nil {
		fx := e.begin()
		fx.sender = true
		e.freeSend(fx, rec.Agent)
		en.busy = false
		e.prepareFailed(fx, en, err)
		fx.end()
		return fx.next, fx.nextRec
	}
	ctx, cancel := context.WithTimeout(e.sendCtx, e.opts.SendTimeout)
	start := e.deps.Clock.Now()
	task, err := e.deps.Agent.Send(ctx, req)
	cancel()
	took := e.deps.Clock.Since(start)

	fx := e.begin()
	fx.sender = true
	e.freeSend(fx, rec.Agent)
	en.busy = false
	e.sent(fx, en, task, err, took)
	fx.end()
	return fx.next, fx.nextRec
}

func (e *Engine) prepareFailed(fx *effects, en *entry, err error) {
	if errors.Is(err, ErrGone) {
		e.settle(fx, en, Abandoned, err.Error())
		return
	}
	e.settle(fx, en, Undeliverable, PromptPrefix+err.Error())
	fx.audit(en, ports.AuditUndeliverable, true, fmt.Sprintf("agent %s was not told of %s: the prompt cannot be rendered: %v", en.rec.Agent, en.rec.Key.Describe(), err))
}

// sent records the outcome of a send.
func (e *Engine) sent(fx *effects, en *entry, task ports.Task, err error, took time.Duration) {
	agent := en.rec.Agent
	if err != nil {
		e.lane(agent).failing = true
	}
	if task.ContextID != "" {
		// Whatever the outcome, the next attempt continues the conversation (Kagent session) this
		// one opened or joined, rather than opening another.
		en.rec.ContextID = task.ContextID
	}
	switch {
	case err != nil && errors.Is(err, ports.ErrPermanent):
		e.deps.Metrics.SendFinished(agent, "permanent", took)
		e.settle(fx, en, Undeliverable, RefusedPrefix+err.Error())
		fx.audit(en, ports.AuditUndeliverable, true, fmt.Sprintf("agent %s refused %s for good: %v; khook tries again when the Hook changes, or once when the agent next accepts a firing", agent, en.rec.Key.Describe(), err))
	case err != nil && errors.Is(err, ports.ErrUncertain) && e.opts.Guarantee == AtMostOnce:
		e.deps.Metrics.SendFinished(agent, "uncertain", took)
		e.settle(fx, en, Unknown, err.Error())
		fx.audit(en, ports.AuditDeliveryUncertain, true, fmt.Sprintf("agent %s may or may not have been told of %s: %v; not sent again (at-most-once)", agent, en.rec.Key.Describe(), err))
	case err != nil:
		result := "failed"
		if errors.Is(err, ports.ErrUncertain) {
			result = "uncertain"
		}
		e.deps.Metrics.SendFinished(agent, result, took)
		e.failed(fx, en, err.Error(), Undeliverable)
	default:
		e.deps.Metrics.SendFinished(agent, "accepted", took)
		now := e.deps.Clock.Now()
		en.rec.SentAt, en.rec.TaskID, en.rec.LastError = now, task.ID, ""
		if task.ID == "" { // a message: the agent answered at once
			en.rec.Summary = task.Summary
			e.settle(fx, en, Completed, "")
			fx.audit(en, ports.AuditDelivered, false, "agent "+agent.String()+" answered about "+en.rec.Key.Describe()+" at once: "+orNothing(task.Summary))
			e.deps.Metrics.InvestigationFinished(agent, string(ports.TaskCompleted), 0)
		} else {
			fx.audit(en, ports.AuditDelivered, false, "agent "+agent.String()+" accepted "+en.rec.Key.Describe()+" as task "+task.ID+" ("+string(task.State)+")")
			e.taskNews(fx, en, task)
		}
		if l := e.lane(agent); l.failing && task.State != ports.TaskFailed && task.State != ports.TaskRejected {
			l.failing = false
			e.reviveAgent(fx, agent) // it works again: what failed for lack of it gets a new round
		}
	}
}

func (e *Engine) poll(en *entry) {
	defer e.work.Done()
	e.mu.Lock()
	agent, taskID := en.rec.Agent, en.rec.TaskID
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(e.pollCtx, e.opts.SendTimeout)
	task, err := e.deps.Agent.GetTask(ctx, agent, taskID)
	cancel()

	fx := e.begin()
	defer fx.end()
	en.busy = false
	if e.closed || !en.followed {
		return
	}
	switch {
	case err != nil && errors.Is(err, ports.ErrTaskNotFound):
		e.endInvestigation(fx, en, "lost")
		e.failed(fx, en, fmt.Sprintf("agent %s lost task %s", agent, taskID), Failed)
	case err != nil:
		en.rec.LastError = "following the task: " + err.Error()
		e.schedulePoll(en)
		e.deps.Logger.Debug("polling a task failed; polling again later", "agent", agent.String(), "task", taskID, "error", err)
	default:
		e.taskNews(fx, en, task)
	}
}

// taskNews records what the agent says of a task it accepted.
func (e *Engine) taskNews(fx *effects, en *entry, task ports.Task) {
	if task.Summary != "" {
		en.rec.Summary = task.Summary
	}
	agent, key, id := en.rec.Agent, en.rec.Key.Describe(), en.rec.TaskID
	switch task.State {
	case ports.TaskCompleted:
		e.endInvestigation(fx, en, Completed)
		e.settle(fx, en, Completed, "")
		fx.audit(en, ports.AuditInvestigationCompleted, false, "agent "+agent.String()+" completed task "+id+" about "+key+": "+orNothing(task.Summary))
	case ports.TaskFailed, ports.TaskRejected:
		e.endInvestigation(fx, en, State(task.State))
		e.failed(fx, en, fmt.Sprintf("task %s %s: %s", id, task.State, orNothing(task.Summary)), State(task.State))
	case ports.TaskCanceled:
		e.endInvestigation(fx, en, Canceled)
		e.settle(fx, en, Canceled, "")
		fx.audit(en, ports.AuditInvestigationEnded, false, fmt.Sprintf("task %s of agent %s about %s was canceled: %s", id, agent, key, orNothing(task.Summary)))
	case ports.TaskInputRequired, ports.TaskAuthRequired:
		e.endInvestigation(fx, en, State(task.State))
		e.settle(fx, en, State(task.State), "")
		fx.audit(en, ports.AuditInputRequired, true, fmt.Sprintf("agent %s needs a person for task %s about %s (%s): %s", agent, id, key, task.State, orNothing(task.Summary)))
	default: // submitted, working, or a state this version does not know: still at work
		state := Working
		if task.State == ports.TaskSubmitted {
			state = Submitted
		}
		if en.detached && !en.followed {
			e.settle(fx, en, state, "") // superseded before it was accepted: audited, not followed
			return
		}
		if !en.followed {
			e.follow(en)
			en.pollEvery = e.opts.PollInitial
		} else {
			en.pollEvery = min(2*en.pollEvery, e.opts.PollMax)
		}
		e.transition(fx, en, state)
		e.schedulePoll(en)
	}
}

// failed handles a failed attempt: another one after a backoff; or, when the attempts are used
// up, the firing ended or the record was superseded, the state final says how it ended.
func (e *Engine) failed(fx *effects, en *entry, why string, final State) {
	agent, key := en.rec.Agent, en.rec.Key.Describe()
	if en.ended || en.detached {
		e.settle(fx, en, final, why+"; not tried again: the firing is over")
		return
	}
	if en.rec.Attempts >= e.opts.MaxAttempts {
		e.settle(fx, en, final, why)
		again := "when the Hook changes" // the agent failed the task itself
		if final == Undeliverable {
			again = "when the Hook changes, or once when the agent next accepts a firing"
		}
		fx.audit(en, ports.AuditUndeliverable, true, fmt.Sprintf("agent %s was not told of %s after %d attempts: %s; khook tries again %s",
			agent, key, en.rec.Attempts, why, again))
		return
	}
	wait := e.backoff(en.rec.Attempts)
	en.rec.LastError = why
	e.transition(fx, en, Pending)
	e.schedule(en, e.deps.Clock.Now().Add(wait))
	e.deps.Metrics.RetryScheduled(agent)
	fx.audit(en, ports.AuditDeliveryFailed, true, fmt.Sprintf("attempt %d to tell agent %s of %s failed: %s; next attempt in %s", en.rec.Attempts, agent, key, why, wait.Round(time.Second)))
}

// backoff is the wait after the n-th failed attempt: RetryInitial doubling up to RetryMax, ±20%.
func (e *Engine) backoff(n int) time.Duration {
	d := e.opts.RetryInitial
	for i := 1; i < n && d < e.opts.RetryMax; i++ {
		d *= 2
	}
	d = min(d, e.opts.RetryMax)
	return time.Duration(float64(d) * (0.8 + 0.4*e.deps.Rand()))
}

// reviveAgent gives a new round to the records of agent that failed for lack of it: it has just
// accepted a firing after failing. Each record gets at most one such round until its Hook
// changes, so that a firing the agent refuses on its own is not sent again with every firing the
// agent accepts.
func (e *Engine) reviveAgent(fx *effects, agent hook.AgentRef) {
	for en := range e.undeliverable[agent] {
		if forLackOfAgent(en.rec) && !en.recovered {
			en.recovered = true
			e.revive(fx, en)
		}
	}
}

// revive gives an undeliverable record (or one whose retries were used up) a new round; one
// whose firing is over is closed as abandoned, so that no stale problem is shown.
func (e *Engine) revive(fx *effects, en *entry) {
	if _, ok := e.undeliverable[en.rec.Agent][en]; !ok {
		return
	}
	if en.ended {
		e.settle(fx, en, Abandoned, en.rec.LastError+"; the firing is over, so it is not tried again")
		return
	}
	en.rec.Attempts = 0
	e.transition(fx, en, Pending)
	e.enqueue(fx, en)
}

func (e *Engine) follow(en *entry) {
	if !en.followed {
		en.followed = true
		e.lane(en.rec.Agent).working++
	}
}

// unfollow stops counting en's task against its agent's investigations; the lane is pumped
// before the engine's lock is released.
func (e *Engine) unfollow(fx *effects, en *entry) {
	if en.followed {
		en.followed = false
		l := e.lane(en.rec.Agent)
		l.working--
		fx.pump(l)
	}
}

// freeSend gives back a send slot of agent's lane; the lane is pumped before the engine's lock is
// released, so that what waits for the agent goes at once, whatever freed the slot.
func (e *Engine) freeSend(fx *effects, agent hook.AgentRef) {
	l := e.lane(agent)
	l.sending--
	fx.pump(l)
}

// endInvestigation stops following en's task and counts how it ended.
func (e *Engine) endInvestigation(fx *effects, en *entry, outcome State) {
	if !en.followed {
		return
	}
	e.unfollow(fx, en)
	e.unschedule(en)
	e.deps.Metrics.InvestigationFinished(en.rec.Agent, string(outcome), e.deps.Clock.Since(en.rec.SentAt))
}

func (e *Engine) schedulePoll(en *entry) {
	if en.pollEvery <= 0 {
		en.pollEvery = e.opts.PollInitial
	}
	e.schedule(en, e.deps.Clock.Now().Add(en.pollEvery))
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

// settle puts en in a state nothing follows up by itself.
func (e *Engine) settle(fx *effects, en *entry, state State, why string) {
	en.rec.LastError = why
	en.rec.NextAt = time.Time{}
	e.transition(fx, en, state)
}

func (e *Engine) transition(fx *effects, en *entry, state State) {
	if en.rec.State == state {
		return
	}
	e.indexUndeliverable(en, false)
	en.rec.State = state
	if exhausted(en.rec) && !en.detached {
		e.indexUndeliverable(en, true)
	}
	en.rec.UpdatedAt = e.deps.Clock.Now()
	if !en.detached {
		fx.changed(en.rec.Hook)
	}
}

// exhausted reports whether r ended without the agent doing the work: refused for good, or
// retries used up. Such a record is worth a new round when its Hook or agent changes.
func exhausted(r Record) bool {
	switch r.State {
	case Undeliverable:
		return true
	case Failed, Rejected:
		return r.NextAt.IsZero()
	}
	return false
}

// forLackOfAgent reports whether r is undeliverable because its agent could not be reached or
// refused it (a transport error, an open circuit breaker, no such agent, unauthorised), which
// its agent's recovery may cure. A prompt that cannot be rendered changes only with its Hook, and
// a task the agent failed or rejected in every attempt is the agent's answer, not its absence.
func forLackOfAgent(r Record) bool {
	return r.State == Undeliverable && !strings.HasPrefix(r.LastError, PromptPrefix)
}

func (e *Engine) indexUndeliverable(en *entry, add bool) {
	byAgent := e.undeliverable[en.rec.Agent]
	if !add {
		delete(byAgent, en)
		return
	}
	if byAgent == nil {
		byAgent = map[*entry]struct{}{}
		e.undeliverable[en.rec.Agent] = byAgent
	}
	byAgent[en] = struct{}{}
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

// effects collects what must happen before and after the engine's lock is released: lanes with
// a freed slot to pump (under the lock), then status changes to announce and audit records to
// write, so that neither runs under the lock.
type effects struct {
	e       *Engine
	lanes   []*lane
	refs    []hook.Ref
	records []auditItem
	// sender: the lock is held by a goroutine that has just finished a send; next is the attempt
	// it takes on (see startSend), and nextRec that attempt's record as it started.
	sender  bool
	next    *entry
	nextRec Record
}

type auditItem struct {
	ref hook.Ref
	rec ports.AuditRecord
}

// begin locks the engine and returns the effects to run when end unlocks it.
func (e *Engine) begin() *effects {
	e.mu.Lock()
	return &effects{e: e}
}

func (fx *effects) changed(ref hook.Ref) { fx.refs = append(fx.refs, ref) }

// pump asks for l to be pumped before the lock is released: a slot of it was freed.
func (fx *effects) pump(l *lane) {
	for _, x := range fx.lanes {
		if x == l {
			return
		}
	}
	fx.lanes = append(fx.lanes, l)
}

func (fx *effects) audit(en *entry, kind ports.AuditKind, warning bool, msg string) {
	fx.records = append(fx.records, auditItem{ref: en.rec.Hook, rec: ports.AuditRecord{Kind: kind, Warning: warning, Message: msg,
		Resource: en.rec.Resource, HookUID: en.rec.HookUID}})
}

func (fx *effects) end() {
	for _, l := range fx.lanes {
		fx.e.pump(fx, l)
	}
	fx.e.mu.Unlock()
	seen := map[hook.Ref]bool{}
	for _, ref := range fx.refs {
		if !seen[ref] {
			seen[ref] = true
			fx.e.deps.Changed(ref)
		}
	}
	for _, a := range fx.records {
		fx.e.deps.Audit.Record(context.Background(), a.ref, a.rec)
	}
}

type noMetrics struct{}

func (noMetrics) SendFinished(hook.AgentRef, string, time.Duration)          {}
func (noMetrics) InvestigationFinished(hook.AgentRef, string, time.Duration) {}
func (noMetrics) RetryScheduled(hook.AgentRef)                               {}
func (noMetrics) QueueDepth(hook.AgentRef, int)                              {}
func (noMetrics) DeliveryUncertain(hook.AgentRef, string)                    {}
