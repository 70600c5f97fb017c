package delivery

import "github.com/khook-dev/khook/domain/hook"

// lane is one agent's share of the engine: its queue and what it has under way.
type lane struct {
	agent hook.AgentRef
	queue fairQueue
	// sending counts sends under way (and, at most once, sends waiting for their intent to be
	// persisted); working counts accepted tasks being followed.
	sending, working int
	// failing: the latest send to the agent failed (or the restored ledger says it could not be
	// reached); the next accepted send revives what failed for lack of it.
	failing bool
}

// fairQueue is a queue of records in which Hooks take turns: the Hook served longest ago goes
// first, so one storm of firings on one Hook does not keep another Hook's firing waiting.
type fairQueue struct {
	byHook map[hook.Ref][]*entry
	// served numbers each Hook's latest turn; a Hook never served has 0.
	served map[hook.Ref]uint64
	turn   uint64
	size   int
}

func (q *fairQueue) push(e *entry) {
	if q.byHook == nil {
		q.byHook, q.served = map[hook.Ref][]*entry{}, map[hook.Ref]uint64{}
	}
	q.byHook[e.rec.Hook] = append(q.byHook[e.rec.Hook], e)
	q.size++
}

// pop takes the oldest record of the Hook served longest ago; nil when empty.
func (q *fairQueue) pop() *entry {
	if q.size == 0 {
		return nil
	}
	var next hook.Ref
	first := true
	for ref := range q.byHook {
		if first || q.served[ref] < q.served[next] || (q.served[ref] == q.served[next] && ref.String() < next.String()) {
			next, first = ref, false
		}
	}
	list := q.byHook[next]
	e := list[0]
	if len(list) == 1 {
		delete(q.byHook, next)
	} else {
		q.byHook[next] = list[1:]
	}
	q.turn++
	q.served[next] = q.turn
	q.size--
	return e
}

// remove takes e out of the queue, wherever it is.
func (q *fairQueue) remove(e *entry) {
	ref := e.rec.Hook
	list := q.byHook[ref]
	for i, x := range list {
		if x != e {
			continue
		}
		list = append(list[:i:i], list[i+1:]...)
		q.size--
		if len(list) == 0 {
			delete(q.byHook, ref)
		} else {
			q.byHook[ref] = list
		}
		return
	}
}

// forget drops what the queue remembers of hook ref's turns: the Hook is gone.
func (q *fairQueue) forget(ref hook.Ref) { delete(q.served, ref) }

func (q *fairQueue) len() int { return q.size }
