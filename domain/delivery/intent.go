package delivery

import (
	"github.com/khook-dev/khook/domain/event"
)

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
