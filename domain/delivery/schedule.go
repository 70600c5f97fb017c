package delivery

import "container/heap"

// schedule orders the entries waiting for a time: a retry, or the next poll of a task.
type schedule []*entry

func (s schedule) Len() int           { return len(s) }
func (s schedule) Less(i, j int) bool { return s[i].rec.NextAt.Before(s[j].rec.NextAt) }
func (s schedule) Swap(i, j int) {
	s[i], s[j] = s[j], s[i]
	s[i].slot, s[j].slot = i, j
}
func (s *schedule) Push(x any) {
	e := x.(*entry)
	e.slot = len(*s)
	*s = append(*s, e)
}
func (s *schedule) Pop() any {
	old := *s
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*s = old[:len(old)-1]
	e.slot = -1
	return e
}

// add puts e in the schedule, or moves it if it is there.
func (s *schedule) add(e *entry) {
	if e.slot >= 0 {
		heap.Fix(s, e.slot)
		return
	}
	heap.Push(s, e)
}

// drop takes e out of the schedule if it is there.
func (s *schedule) drop(e *entry) {
	if e.slot >= 0 {
		heap.Remove(s, e.slot)
	}
}
