package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/khook-dev/khook/ports"
)

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
		e.investigationFailed(fx, en, Lost, "the agent no longer knows the task")
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
		e.settle(fx, en, Completed, "", "")
		fx.audit(en, ports.AuditInvestigationCompleted, false, "agent "+agent.String()+" completed task "+id+" about "+key+": "+orNothing(task.Summary))
	case ports.TaskFailed, ports.TaskRejected:
		e.investigationFailed(fx, en, State(task.State), orNothing(task.Summary))
	case ports.TaskCanceled:
		e.endInvestigation(fx, en, Canceled)
		e.settle(fx, en, Canceled, "", "")
		fx.audit(en, ports.AuditInvestigationEnded, false, fmt.Sprintf("task %s of agent %s about %s was canceled: %s", id, agent, key, orNothing(task.Summary)))
	case ports.TaskInputRequired, ports.TaskAuthRequired:
		e.endInvestigation(fx, en, State(task.State))
		e.settle(fx, en, State(task.State), "", "")
		fx.audit(en, ports.AuditInputRequired, true, fmt.Sprintf("agent %s needs a person for task %s about %s (%s): %s", agent, id, key, task.State, orNothing(task.Summary)))
	default: // submitted, working, or a state this version does not know: still at work
		state := Working
		if task.State == ports.TaskSubmitted {
			state = Submitted
		}
		if en.detached && !en.followed {
			e.settle(fx, en, state, "", "") // superseded before it was accepted: audited, not followed
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

// endInvestigation stops following en's task, if it was followed, and counts how it ended.
func (e *Engine) endInvestigation(fx *effects, en *entry, outcome State) {
	if en.followed {
		e.unfollow(fx, en)
		e.unschedule(en)
	}
	// Also a task that had ended by the time the agent answered the send: it was never followed,
	// but it is an investigation that ended.
	e.deps.Metrics.InvestigationFinished(en.rec.Agent, string(outcome), e.deps.Clock.Since(en.rec.SentAt))
}

func (e *Engine) schedulePoll(en *entry) {
	if en.pollEvery <= 0 {
		en.pollEvery = e.opts.PollInitial
	}
	e.schedule(en, e.deps.Clock.Now().Add(en.pollEvery))
}

// investigationFailed records how an investigation the agent accepted ended badly: its task
// failed, was rejected, or was lost. That is an outcome, not a failed delivery: the agent was
// told and ran (or refused) the work, so khook does not send it again, which would start another
// LLM run, unless Options.RetryFailedInvestigations allows: then the agent is asked again, with
// a new message in the same conversation, after a backoff.
func (e *Engine) investigationFailed(fx *effects, en *entry, outcome State, why string) {
	e.endInvestigation(fx, en, outcome)
	agent, key, id := en.rec.Agent, en.rec.Key.Describe(), en.rec.TaskID
	ended := fmt.Sprintf("agent %s's task %s about %s %s: %s", agent, id, key, outcomeVerb(outcome), why)
	if en.ended || en.detached || en.rec.Reruns >= e.opts.RetryFailedInvestigations {
		e.settle(fx, en, outcome, "", why)
		fx.audit(en, ports.AuditInvestigationEnded, true, ended)
		return
	}
	en.rec.Reruns++
	en.rec.Attempts = 0
	en.rec.MessageID = RerunMessageID(en.rec.MessageID, en.rec.Reruns)
	en.rec.LastError, en.rec.Cause = why, ""
	wait := e.backoff(en.rec.Reruns)
	e.transition(fx, en, Pending)
	e.schedule(en, e.deps.Clock.Now().Add(wait))
	e.deps.Metrics.RetryScheduled(agent)
	fx.audit(en, ports.AuditInvestigationEnded, true, fmt.Sprintf("%s; khook asks again in %s (rerun %d of %d)", ended, wait.Round(time.Second), en.rec.Reruns, e.opts.RetryFailedInvestigations))
}

func outcomeVerb(s State) string {
	switch s {
	case Lost:
		return "was lost"
	case Rejected:
		return "was rejected"
	default:
		return string(s)
	}
}
