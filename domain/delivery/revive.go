package delivery

import (
	"fmt"
	"time"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// Revive gives the undeliverable records of hook ref a new round of attempts: the Hook changed.
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

// revive gives an undeliverable record a new round; one whose firing is over is closed as
// abandoned, so that no stale problem is shown.
func (e *Engine) revive(fx *effects, en *entry) {
	if _, ok := e.undeliverable[en.rec.Agent][en]; !ok {
		return
	}
	e.unschedule(en) // a probe it was to make
	en.probe = false
	if en.ended {
		e.settle(fx, en, Abandoned, en.rec.Cause, en.rec.LastError+"; the firing is over, so it is not tried again")
		return
	}
	en.rec.Attempts, en.rec.Cause = 0, ""
	e.transition(fx, en, Pending)
	e.enqueue(fx, en)
}

// agentAbsent handles a send that found no such agent (its card or endpoint answered 404): en
// is undeliverable, and the agent is remembered as absent for a backoff (RetryInitial doubling
// up to RetryMax with each absence in a row). Meanwhile what waits for it is settled at once,
// without a call: thousands of firings for a missing agent cost one request, not thousands. At
// the end of the backoff one of its undeliverable records asks again (a probe); when the agent
// answers, every record undeliverable for lack of it gets a new round together (reviveAgent).
func (e *Engine) agentAbsent(fx *effects, en *entry, err error) {
	l := e.lane(en.rec.Agent)
	now := e.deps.Clock.Now()
	if now.Before(l.absentUntil) { // a send under way when the absence was learnt: no news
		e.settle(fx, en, Undeliverable, CauseAgentNotFound, err.Error())
		return
	}
	l.absences++
	wait := e.backoff(l.absences)
	l.absentUntil = now.Add(wait)
	e.settle(fx, en, Undeliverable, CauseAgentNotFound, err.Error())
	fx.audit(en, ports.AuditUndeliverable, true, fmt.Sprintf("agent %s does not exist (%v); khook asks again in %s and tells it of %s once it answers",
		en.rec.Agent, err, wait.Round(time.Second), en.rec.Key.Describe()))
	if !en.ended && !en.detached {
		en.probe = true
		e.schedule(en, l.absentUntil)
	}
	e.pump(fx, l) // settles what waits
}

// probe asks an absent agent again, with en or, if en's firing is over meanwhile, another record
// undeliverable for lack of the agent.
func (e *Engine) probe(fx *effects, en *entry) {
	en.probe = false
	if forLackOfAgent(en.rec) && !en.ended && !en.detached {
		e.revive(fx, en)
		return
	}
	for other := range e.undeliverable[en.rec.Agent] {
		if forLackOfAgent(other.rec) && !other.ended && !other.detached {
			e.revive(fx, other)
			return
		}
	}
}

// forLackOfAgent reports whether r is undeliverable for a reason its agent's return may cure (see
// Cause.ForLackOfAgent).
func forLackOfAgent(r Record) bool {
	return r.State == Undeliverable && r.Cause.ForLackOfAgent()
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
