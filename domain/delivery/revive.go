package delivery

import (
	"strings"

	"github.com/khook-dev/khook/domain/hook"
)

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
