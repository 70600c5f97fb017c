package delivery

import (
	"slices"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
)

// Assignment is what one Hook asks of the engine: the configurations whose agents are told of
// firings of their event type (Active), and those refused for now (Held: a prompt that does not
// compile, an event type no source provides, an agent not allowed). A held configuration's
// records are kept as they are and nothing is sent to its agent until it is active again, so
// that fixing a typo tells nobody twice.
type Assignment struct {
	Active []hook.Configuration
	Held   []hook.Configuration
}

// assignment is an Assignment indexed for lookups under the engine's lock.
type assignment struct {
	active map[event.Type][]hook.Configuration // distinct agents, in spec order
	held   map[event.Type][]hook.AgentRef
}

func indexAssignment(a Assignment) *assignment {
	as := &assignment{active: map[event.Type][]hook.Configuration{}, held: map[event.Type][]hook.AgentRef{}}
	for _, c := range a.Active {
		if !slices.ContainsFunc(as.active[c.EventType], func(x hook.Configuration) bool { return x.Agent == c.Agent }) {
			as.active[c.EventType] = append(as.active[c.EventType], c)
		}
	}
	for _, c := range a.Held {
		if _, ok := as.configuration(c.EventType, c.Agent); !ok && !slices.Contains(as.held[c.EventType], c.Agent) {
			as.held[c.EventType] = append(as.held[c.EventType], c.Agent)
		}
	}
	return as
}

// configuration returns the active configuration telling agent of events of type t.
func (as *assignment) configuration(t event.Type, agent hook.AgentRef) (hook.Configuration, bool) {
	if as == nil {
		return hook.Configuration{}, false
	}
	for _, c := range as.active[t] {
		if c.Agent == agent {
			return c, true
		}
	}
	return hook.Configuration{}, false
}

// agents returns the agents told of events of type t, in spec order.
func (as *assignment) agents(t event.Type) []hook.AgentRef {
	if as == nil {
		return nil
	}
	out := make([]hook.AgentRef, 0, len(as.active[t]))
	for _, c := range as.active[t] {
		out = append(out, c.Agent)
	}
	return out
}

// holds reports whether agent's configuration for events of type t is held.
func (as *assignment) holds(t event.Type, agent hook.AgentRef) bool {
	return as != nil && slices.Contains(as.held[t], agent)
}

// Configure sets what Hook ref asks (see Assignment) and brings its records in line: those of an
// agent now held are parked (a send waiting for its turn, its retry or its intent goes back to
// pending, untouched); those of an agent active again go back to its queue. Ensure, per firing,
// adds records for agents newly named and drops those of agents no longer named.
//
// Call it after the Hook's configurations are where the pipeline finds them and before Ensure:
// Ensure reads the agents from here, so that a firing handled while a Hook changes is told to
// the agents the Hook names when the firing reaches the ledger, whatever the event matched.
func (e *Engine) Configure(ref hook.Ref, a Assignment) {
	fx := e.begin()
	defer fx.end()
	e.assigned[ref] = indexAssignment(a)
	for _, list := range e.ledger[ref] {
		for _, en := range list {
			e.place(fx, en)
		}
	}
}

// place parks a waiting record whose agent its Hook does not (or not now) let the engine tell,
// and gives a parked one back to its agent's queue once it does.
func (e *Engine) place(fx *effects, en *entry) {
	if en.detached || en.ended || en.busy {
		return
	}
	if en.parked {
		if _, ok := e.assigned[en.rec.Hook].configuration(en.rec.Key.Type, en.rec.Agent); ok {
			en.parked = false
			if en.rec.Cause == CauseConfigurationRefused {
				en.rec.Cause = ""
				fx.changed(en)
			}
			e.enqueue(fx, en)
		}
		return
	}
	if en.rec.State == Pending || en.awaitingIntent {
		if _, ok := e.assigned[en.rec.Hook].configuration(en.rec.Key.Type, en.rec.Agent); !ok {
			e.park(fx, en)
		}
	}
}

// park takes a waiting record out of its agent's queue, the schedule and, at most once, its wait
// for an intent: it stays pending, untouched, until its Hook lets the engine tell its agent.
func (e *Engine) park(fx *effects, en *entry) {
	if en.awaitingIntent {
		en.awaitingIntent = false
		e.freeSend(fx, en.rec.Agent)
	}
	e.unschedule(en)
	en.parked = true
	e.transition(fx, en, Pending)
	if e.assigned[en.rec.Hook].holds(en.rec.Key.Type, en.rec.Agent) && en.rec.Cause != CauseConfigurationRefused {
		en.rec.Cause = CauseConfigurationRefused
		fx.changed(en)
	}
}
