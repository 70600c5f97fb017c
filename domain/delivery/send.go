package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// attempt is one send: the record it is for, the record as it was when the send started, and the
// configuration (agent and prompt) it tells.
type attempt struct {
	en  *entry
	rec Record
	cfg hook.Configuration
}

// enqueue puts a pending record in its agent's queue and starts what the lane has room for. A
// record whose Hook does not let the engine tell its agent now is parked instead (see Configure).
func (e *Engine) enqueue(fx *effects, en *entry) {
	if en.queued || en.detached {
		return
	}
	if _, ok := e.assigned[en.rec.Hook].configuration(en.rec.Key.Type, en.rec.Agent); !ok {
		e.park(fx, en)
		return
	}
	l := e.lane(en.rec.Agent)
	en.queued = true
	l.queue.push(en)
	e.deps.Metrics.QueueDepth(l.agent, l.queue.len())
	e.pump(fx, l)
}

// pump starts sends from l's queue while the lane has room. While its agent is remembered as
// absent (see agentAbsent), what waits is settled without a call.
func (e *Engine) pump(fx *effects, l *lane) {
	popped := false
	if !l.absentUntil.IsZero() && e.deps.Clock.Now().Before(l.absentUntil) {
		for en := l.queue.pop(); en != nil; en = l.queue.pop() {
			popped = true
			en.queued = false
			e.settle(fx, en, Undeliverable, CauseAgentNotFound, fmt.Sprintf("agent %s does not exist (it answered so at its latest attempt); not called until %s",
				l.agent, l.absentUntil.UTC().Format(time.RFC3339)))
			fx.audit(en, ports.AuditUndeliverable, true, fmt.Sprintf("agent %s was not told of %s: it does not exist; khook tells it once it answers",
				l.agent, en.rec.Key.Describe()))
		}
	}
	for !e.closed && l.sending < e.opts.MaxSendsPerAgent && l.sending+l.working < e.opts.MaxInvestigationsPerAgent {
		en := l.queue.pop()
		if en == nil {
			break
		}
		popped = true
		en.queued = false
		l.sending++
		if e.opts.Guarantee == AtMostOnce {
			en.awaitingIntent = true // sent once the status holds the intent (see Intents)
			e.transition(fx, en, Sending)
			continue
		}
		e.startSend(fx, en)
	}
	if popped {
		e.deps.Metrics.QueueDepth(l.agent, l.queue.len())
	}
}

// startSend begins an attempt; the lane's sending count already includes it. A goroutine that
// has just finished a send (fx.sender) takes the first attempt it starts itself, rather than
// starting a goroutine and ending its own: under a storm one agent's sends follow each other on
// the same goroutines.
func (e *Engine) startSend(fx *effects, en *entry) {
	cfg, ok := e.assigned[en.rec.Hook].configuration(en.rec.Key.Type, en.rec.Agent)
	if !ok { // its Hook changed since it was queued
		e.freeSend(fx, en.rec.Agent)
		e.park(fx, en)
		return
	}
	en.busy = true
	en.rec.Attempts++
	e.transition(fx, en, Sending)
	e.work.Add(1)
	a := attempt{en: en, rec: en.rec, cfg: cfg}
	if fx.sender && fx.next == nil {
		fx.next = &a
		return
	}
	go e.send(a)
}

// send runs attempt a, then any attempt handed to it by startSend.
func (e *Engine) send(a attempt) {
	for next := &a; next != nil; {
		next = e.sendOnce(*next)
	}
}

// sendOnce runs one attempt and returns the next one this goroutine takes, if any.
func (e *Engine) sendOnce(a attempt) *attempt {
	defer e.work.Done()
	en, rec := a.en, a.rec
	req, err := e.deps.Prepare.Prepare(rec, a.cfg)
	if err != nil {
		fx := e.begin()
		fx.sender = true
		e.freeSend(fx, rec.Agent)
		en.busy = false
		e.prepareFailed(fx, en, err)
		fx.end()
		return fx.next
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
	en.rec.Prompt, en.rec.PromptSHA256 = keptPrompt(req.Prompt)
	e.sent(fx, en, task, err, took)
	fx.end()
	return fx.next
}

// prepareFailed handles a message that could not be prepared: the firing is over (abandoned),
// its event is not known well enough yet (it waits, which is not an attempt), or its prompt
// cannot be rendered (undeliverable until the Hook changes).
func (e *Engine) prepareFailed(fx *effects, en *entry, err error) {
	switch {
	case errors.Is(err, ErrGone):
		e.settle(fx, en, Abandoned, CauseFiringOver, err.Error())
	case errors.Is(err, ErrAwaitingEvent):
		en.rec.Attempts--
		en.rec.LastError, en.rec.Cause = err.Error(), CauseAwaitingEvent
		e.transition(fx, en, Pending)
		e.schedule(en, e.deps.Clock.Now().Add(e.opts.RetryInitial))
		fx.changed(en)
	default:
		e.settle(fx, en, Undeliverable, CausePrompt, err.Error())
		fx.audit(en, ports.AuditUndeliverable, true, fmt.Sprintf("agent %s was not told of %s: the prompt cannot be rendered: %v", en.rec.Agent, en.rec.Key.Describe(), err))
	}
}

// sent records the outcome of a send.
func (e *Engine) sent(fx *effects, en *entry, task ports.Task, err error, took time.Duration) {
	agent := en.rec.Agent
	l := e.lane(agent)
	if err != nil {
		l.failing = true
	}
	if task.ContextID != "" {
		// Whatever the outcome, the next attempt continues the conversation (Kagent session) this
		// one opened or joined, rather than opening another.
		en.rec.ContextID = task.ContextID
	}
	switch {
	case err != nil && errors.Is(err, ports.ErrAgentNotFound):
		e.deps.Metrics.SendFinished(agent, "permanent", took)
		e.agentAbsent(fx, en, err)
	case err != nil && errors.Is(err, ports.ErrPermanent):
		e.deps.Metrics.SendFinished(agent, "permanent", took)
		e.settle(fx, en, Undeliverable, CauseAgentRefused, err.Error())
		fx.audit(en, ports.AuditUndeliverable, true, fmt.Sprintf("agent %s refused %s for good: %v; khook tries again when the Hook changes, or once when the agent next accepts a firing", agent, en.rec.Key.Describe(), err))
	case err != nil && errors.Is(err, ports.ErrUncertain):
		// The second uncertain moment (the first is khook stopping during a send): the request
		// went out, its answer did not come back. The guarantee decides, as after a restart.
		e.deps.Metrics.SendFinished(agent, "uncertain", took)
		e.deps.Metrics.DeliveryUncertain(agent, ports.UncertainTimeout)
		if e.opts.Guarantee == AtMostOnce {
			e.settle(fx, en, Unknown, "", err.Error())
			fx.audit(en, ports.AuditDeliveryUncertain, true, fmt.Sprintf("agent %s may or may not have been told of %s: %v; not sent again (at-most-once)", agent, en.rec.Key.Describe(), err))
			return
		}
		e.failed(fx, en, err.Error()+" (the agent may have got it: sent again with the same message id, at-least-once)")
	case err != nil:
		e.deps.Metrics.SendFinished(agent, "failed", took)
		e.failed(fx, en, err.Error())
	default:
		e.deps.Metrics.SendFinished(agent, "accepted", took)
		now := e.deps.Clock.Now()
		en.rec.SentAt, en.rec.TaskID, en.rec.LastError, en.rec.Cause = now, task.ID, "", ""
		if task.ID == "" { // a message: the agent answered at once
			en.rec.Summary = task.Summary
			e.settle(fx, en, Completed, "", "")
			fx.audit(en, ports.AuditDelivered, false, "agent "+agent.String()+" answered about "+en.rec.Key.Describe()+" at once: "+orNothing(task.Summary))
			e.deps.Metrics.InvestigationFinished(agent, string(ports.TaskCompleted), 0)
		} else {
			fx.audit(en, ports.AuditDelivered, false, "agent "+agent.String()+" accepted "+en.rec.Key.Describe()+" as task "+task.ID+" ("+string(task.State)+")")
			e.taskNews(fx, en, task)
		}
		l.absences, l.absentUntil = 0, time.Time{}
		if l.failing {
			l.failing = false
			e.reviveAgent(fx, agent) // it works again: what failed for lack of it gets a new round
		}
	}
}

// failed handles a send that failed for a reason another attempt may cure: another one after a
// backoff; or, when the attempts are used up, the record is undeliverable. A record whose firing
// is over, or that a newer firing replaced, is abandoned instead: it is not undeliverable.
func (e *Engine) failed(fx *effects, en *entry, why string) {
	agent, key := en.rec.Agent, en.rec.Key.Describe()
	if en.ended || en.detached {
		e.settle(fx, en, Abandoned, CauseFiringOver, why+"; not tried again: the firing is over")
		return
	}
	if en.rec.Attempts >= e.opts.MaxAttempts {
		e.settle(fx, en, Undeliverable, CauseRetriesExhausted, why)
		fx.audit(en, ports.AuditUndeliverable, true, fmt.Sprintf("agent %s was not told of %s after %d attempts: %s; khook tries again when the Hook changes, or once when the agent next accepts a firing",
			agent, key, en.rec.Attempts, why))
		return
	}
	wait := e.backoff(en.rec.Attempts)
	en.rec.LastError, en.rec.Cause = why, ""
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

// freeSend gives back a send slot of agent's lane; the lane is pumped before the engine's lock is
// released, so that what waits for the agent goes at once, whatever freed the slot.
func (e *Engine) freeSend(fx *effects, agent hook.AgentRef) {
	l := e.lane(agent)
	l.sending--
	fx.pump(l)
}
