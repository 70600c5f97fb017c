package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

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

// freeSend gives back a send slot of agent's lane; the lane is pumped before the engine's lock is
// released, so that what waits for the agent goes at once, whatever freed the slot.
func (e *Engine) freeSend(fx *effects, agent hook.AgentRef) {
	l := e.lane(agent)
	l.sending--
	fx.pump(l)
}
