package delivery

import (
	"time"

	"github.com/khook-dev/khook/domain/event"
)

// Intents are the at-most-once sends of one Hook waiting for a status write to hold their
// intent (Snapshot returns them with the ledger it wrote). Each holds a send slot of its agent,
// so tell the engine how the write went, whatever happened: Written starts the sends whose intent
// the write kept; Failed gives every slot back at once. A slot is never held on a Hook's write
// beyond one attempt to write it, so a Hook whose status cannot be written (an admission webhook
// refusing it, a value the API server rejects) does not keep its agents from other Hooks.
type Intents struct {
	e       *Engine
	waiting []*entry
}

// Written starts the sends whose intent the write kept (kept names the keys it showed).
func (in Intents) Written(kept map[event.Key]bool) {
	if len(in.waiting) > 0 {
		in.e.releaseIntents(in.waiting, kept)
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
			e.settle(fx, en, Abandoned, CauseFiringOver, "not sent: the firing ended before its turn")
			continue
		}
		e.startSend(fx, en)
	}
}
