package delivery

import (
	"container/heap"
	"strings"

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
}

// fairQueue is a queue of records in which Hooks take turns: the Hook served longest ago goes
// first, so one storm of firings on one Hook does not keep another Hook's firing waiting. Push,
// pop and remove cost O(log n) in the Hooks waiting.
type fairQueue struct {
	waiting hookHeap                // the Hooks with records queued, the one served longest ago on top
	byHook  map[hook.Ref]*hookQueue // the same, by Hook
	served  map[hook.Ref]uint64     // each Hook's latest turn; a Hook never served has 0
	turn    uint64
	size    int
}

// hookQueue is one Hook's records, oldest first.
type hookQueue struct {
	ref     hook.Ref
	records []*entry
	served  uint64
	at      int // in the heap
}

func (q *fairQueue) push(e *entry) {
	if q.byHook == nil {
		q.byHook, q.served = map[hook.Ref]*hookQueue{}, map[hook.Ref]uint64{}
	}
	ref := e.rec.Hook
	hq := q.byHook[ref]
	if hq == nil {
		hq = &hookQueue{ref: ref, served: q.served[ref]}
		q.byHook[ref] = hq
		heap.Push(&q.waiting, hq)
	}
	hq.records = append(hq.records, e)
	q.size++
}

// pop takes the oldest record of the Hook served longest ago; nil when empty.
func (q *fairQueue) pop() *entry {
	if q.size == 0 {
		return nil
	}
	hq := q.waiting[0]
	e := hq.records[0]
	hq.records[0] = nil
	hq.records = hq.records[1:]
	q.turn++
	hq.served = q.turn
	q.served[hq.ref] = q.turn
	q.size--
	if len(hq.records) == 0 {
		heap.Pop(&q.waiting)
		delete(q.byHook, hq.ref)
	} else {
		heap.Fix(&q.waiting, 0)
	}
	return e
}

// remove takes e out of the queue, wherever it is.
func (q *fairQueue) remove(e *entry) {
	hq := q.byHook[e.rec.Hook]
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
			heap.Remove(&q.waiting, hq.at)
			delete(q.byHook, hq.ref)
		}
		return
	}
}

// forget drops what the queue remembers of hook ref's turns: the Hook is gone.
func (q *fairQueue) forget(ref hook.Ref) { delete(q.served, ref) }

func (q *fairQueue) len() int { return q.size }

// hookHeap orders waiting Hooks by their latest turn, then by name (container/heap).
type hookHeap []*hookQueue

func (h hookHeap) Len() int { return len(h) }
func (h hookHeap) Less(i, j int) bool {
	if h[i].served != h[j].served {
		return h[i].served < h[j].served
	}
	if c := strings.Compare(h[i].ref.Namespace, h[j].ref.Namespace); c != 0 {
		return c < 0
	}
	return h[i].ref.Name < h[j].ref.Name
}
func (h hookHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].at, h[j].at = i, j
}
func (h *hookHeap) Push(x any) {
	hq := x.(*hookQueue)
	hq.at = len(*h)
	*h = append(*h, hq)
}
func (h *hookHeap) Pop() any {
	old := *h
	hq := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return hq
}
