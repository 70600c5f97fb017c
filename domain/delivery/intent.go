package delivery

import (
	"time"
)

// Intents are the at-most-once sends of one investigation waiting for a write to hold their
// intent (Snapshot returns them with the records it wrote). Each holds a send slot of its agent,
// so tell the engine how the write went, whatever happened: Written starts the sends; Failed gives
// every slot back at once. A slot is never held on a write beyond one attempt to make it, so an
// investigation that cannot be written does not keep its agents from other Hooks.
type Intents struct {
	e       *Engine
	waiting []*entry
}

// Written starts the sends whose intent the write holds.
func (in Intents) Written() {
	if len(in.waiting) > 0 {
		in.e.releaseIntents(in.waiting)
	}
}

// Failed gives back the slots of the sends waiting for the write, which failed: they wait,
// pending and queued nowhere, until retryAt, when the Hook's status is written again, and then
// take their turn anew.
func (in Intents) Failed(retryAt time.Time) {
	if len(in.waiting) == 0 {
		return
	}
	e := in.e
	fx := e.begin()
	defer fx.end()
	for _, en := range in.waiting {
		if !en.awaitingIntent {
			continue // shut down, dropped or ended meanwhile
		}
		en.awaitingIntent = false
		e.freeSend(fx, en.rec.Agent)
		e.transition(fx, en, Pending)
		e.schedule(en, retryAt)
	}
}

// releaseIntents starts the sends whose intent a write holds.
func (e *Engine) releaseIntents(intents []*entry) {
	fx := e.begin()
	defer fx.end()
	for _, en := range intents {
		if !en.awaitingIntent {
			continue // shut down, dropped or ended meanwhile
		}
		en.awaitingIntent = false
		if en.detached || en.ended || e.closed {
			e.freeSend(fx, en.rec.Agent)
			e.settle(fx, en, Abandoned, CauseFiringOver, "not sent: the firing ended before its turn")
			continue
		}
		e.startSend(fx, en)
	}
}
