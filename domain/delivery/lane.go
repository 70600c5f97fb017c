package delivery

import (
	"container/heap"
	"time"

	"github.com/khook-dev/khook/domain/hook"
)

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
	// absentUntil: the agent answered that it does not exist; until then nothing is sent to it
	// (see agentAbsent). absences counts such answers in a row, for the backoff.
	absentUntil time.Time
	absences    int
}

// fairQueue is a queue of records in which namespaces take turns, and within a namespace its
// Hooks: a tenant's storm, or its hundreds of Hooks, wait behind one turn of every other
// namespace with something queued, not ahead of it. A namespace or Hook that starts waiting joins
// at the back of the round, so creating a Hook does not jump the queue. Push, pop and remove cost
// O(log n) in the namespaces and Hooks waiting; nothing is kept for those with nothing queued.
type fairQueue struct {
	spaces  turns[*spaceQueue] // namespaces with records queued, the one served longest ago on top
	byspace map[string]*spaceQueue
	turn    uint64 // the latest turn given
	size    int
}

// spaceQueue is one namespace's Hooks with records queued.
type spaceQueue struct {
	namespace string
	hooks     turns[*hookQueue]
	byHook    map[string]*hookQueue
	served    uint64
	at        int // in the namespaces' heap
}

// hookQueue is one Hook's records, oldest first.
type hookQueue struct {
	name    string
	records []*entry
	served  uint64
	at      int // in its namespace's heap
}

func (q *fairQueue) push(e *entry) {
	if q.byspace == nil {
		q.byspace = map[string]*spaceQueue{}
	}
	ref := e.rec.Hook
	sq := q.byspace[ref.Namespace]
	if sq == nil {
		q.turn++
		sq = &spaceQueue{namespace: ref.Namespace, byHook: map[string]*hookQueue{}, served: q.turn}
		q.byspace[ref.Namespace] = sq
		heap.Push(&q.spaces, sq)
	}
	hq := sq.byHook[ref.Name]
	if hq == nil {
		q.turn++
		hq = &hookQueue{name: ref.Name, served: q.turn}
		sq.byHook[ref.Name] = hq
		heap.Push(&sq.hooks, hq)
	}
	hq.records = append(hq.records, e)
	q.size++
}

// pop takes the oldest record of the Hook served longest ago in the namespace served longest
// ago; nil when empty.
func (q *fairQueue) pop() *entry {
	if q.size == 0 {
		return nil
	}
	sq := q.spaces.items[0]
	hq := sq.hooks.items[0]
	e := hq.records[0]
	hq.records[0] = nil
	hq.records = hq.records[1:]
	q.turn++
	sq.served, hq.served = q.turn, q.turn
	q.size--
	if len(hq.records) == 0 {
		heap.Pop(&sq.hooks)
		delete(sq.byHook, hq.name)
	} else {
		heap.Fix(&sq.hooks, 0)
	}
	if len(sq.byHook) == 0 {
		heap.Pop(&q.spaces)
		delete(q.byspace, sq.namespace)
	} else {
		heap.Fix(&q.spaces, 0)
	}
	return e
}

// remove takes e out of the queue, wherever it is.
func (q *fairQueue) remove(e *entry) {
	ref := e.rec.Hook
	sq := q.byspace[ref.Namespace]
	if sq == nil {
		return
	}
	hq := sq.byHook[ref.Name]
	if hq == nil {
		return
	}
	for i, x := range hq.records {
		if x != e {
			continue
		}
		hq.records = append(hq.records[:i:i], hq.records[i+1:]...)
		q.size--
		if len(hq.records) == 0 {
			heap.Remove(&sq.hooks, hq.at)
			delete(sq.byHook, hq.name)
		}
		if len(sq.byHook) == 0 {
			heap.Remove(&q.spaces, sq.at)
			delete(q.byspace, sq.namespace)
		}
		return
	}
}

func (q *fairQueue) len() int { return q.size }

// turnTaker is what takes turns: a namespace or a Hook.
type turnTaker interface {
	turn() uint64
	setIndex(int)
}

func (s *spaceQueue) turn() uint64   { return s.served }
func (s *spaceQueue) setIndex(i int) { s.at = i }
func (h *hookQueue) turn() uint64    { return h.served }
func (h *hookQueue) setIndex(i int)  { h.at = i }

// turns orders what takes turns by its latest turn, the one served longest ago on top
// (container/heap). Turns are never equal: each push and pop takes a new one.
type turns[T turnTaker] struct{ items []T }

func (t *turns[T]) Len() int           { return len(t.items) }
func (t *turns[T]) Less(i, j int) bool { return t.items[i].turn() < t.items[j].turn() }
func (t *turns[T]) Swap(i, j int) {
	t.items[i], t.items[j] = t.items[j], t.items[i]
	t.items[i].setIndex(i)
	t.items[j].setIndex(j)
}
func (t *turns[T]) Push(x any) {
	v := x.(T)
	v.setIndex(len(t.items))
	t.items = append(t.items, v)
}
func (t *turns[T]) Pop() any {
	var zero T
	v := t.items[len(t.items)-1]
	t.items[len(t.items)-1] = zero
	t.items = t.items[:len(t.items)-1]
	return v
}
