package delivery

import "github.com/khook-dev/khook/domain/hook"

// Merge takes over, from records another writer kept (a deposed leader's late write), what the
// engine does not know: an agent that accepted a firing the engine still means to send (it is
// followed instead of being sent again), or one whose investigation ended. Records of another
// firing, of an agent the engine has no record of, or that a send under way holds, are left
// alone. It returns how many records it took over.
func (e *Engine) Merge(ref hook.Ref, records []Record) int {
	fx := e.begin()
	defer fx.end()
	taken := 0
	for _, theirs := range records {
		for _, en := range e.ledger[ref][theirs.Key] {
			if en.rec.Agent != theirs.Agent || !en.rec.FirstSeen.Equal(theirs.FirstSeen) || en.busy || en.awaitingIntent {
				continue
			}
			if en.rec.State.Accepted() || !theirs.State.Accepted() {
				continue // the engine knows as much, or more
			}
			e.unschedule(en)
			en.parked = false
			en.rec.MessageID, en.rec.ContextID, en.rec.TaskID = theirs.MessageID, theirs.ContextID, theirs.TaskID
			en.rec.Summary, en.rec.SentAt, en.rec.Attempts = theirs.Summary, theirs.SentAt, theirs.Attempts
			en.rec.LastError, en.rec.Cause = theirs.LastError, theirs.Cause
			if theirs.State == Submitted || theirs.State == Working {
				e.follow(en)
				en.pollEvery = e.opts.PollInitial
				e.transition(fx, en, theirs.State)
				e.schedule(en, e.deps.Clock.Now())
			} else {
				e.settle(fx, en, theirs.State, theirs.Cause, theirs.LastError)
			}
			taken++
		}
	}
	return taken
}
