package delivery

import (
	"context"
	"errors"
	"fmt"

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
