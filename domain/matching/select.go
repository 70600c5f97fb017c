package matching

import (
	"sync"
	"sync/atomic"
)

// Select returns what an event whose resource has labels matches: m itself when every target
// takes it (no target has a selector, or every selector matches), else the targets whose
// selectors match, nil when none does. A firing a Hook's selector does not match does not exist
// for that Hook. The narrowed Matches of a set of targets is made once and kept with m (up to
// maxSubsets of them; beyond, each call makes one), so that a repeat of the same trouble
// allocates nothing and keeps the dedup's fast path (its Set is the same every time).
func (m *Matches) Select(labels map[string]string) *Matches {
	if !m.selective {
		return m
	}
	if len(m.Targets) > 64 {
		return m.narrow(labels)
	}
	var mask uint64
	for i := range m.Targets {
		if m.Targets[i].Selector.Matches(labels) {
			mask |= 1 << i
		}
	}
	switch {
	case mask == 0:
		return nil
	case mask == allOf(len(m.Targets)):
		return m
	}
	return m.subsets.get(m, mask)
}

// maxSubsets bounds the narrowed Matches kept for one Matches: the sets of targets its events'
// labels pick. Hooks select a few kinds of resources, so a handful is the rule.
const maxSubsets = 64

// subsets keeps the narrowed Matches of one Matches by the mask of the targets they hold.
type subsets struct {
	sets *atomic.Uint64 // the index's numbering of narrowed sets
	mu   sync.Mutex
	// byMask is replaced, never changed, once published: readers take no lock.
	byMask atomic.Pointer[map[uint64]*Matches]
}

func (s *subsets) get(m *Matches, mask uint64) *Matches {
	if cur := s.byMask.Load(); cur != nil {
		if n, ok := (*cur)[mask]; ok {
			return n
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.byMask.Load()
	if cur != nil {
		if n, ok := (*cur)[mask]; ok {
			return n
		}
	}
	n := s.make(m, func(i int) bool { return mask&(1<<i) != 0 })
	if cur != nil && len(*cur) >= maxSubsets {
		return n // not kept: a fresh Set each time, correct but off the dedup's fast path
	}
	next := make(map[uint64]*Matches, 1)
	if cur != nil {
		for k, v := range *cur {
			next[k] = v
		}
	}
	next[mask] = n
	s.byMask.Store(&next)
	return n
}

// make builds the Matches of the targets of m that keep says to keep, with a Set of its own.
func (s *subsets) make(m *Matches, keep func(i int) bool) *Matches {
	n := &Matches{Set: 1<<63 | s.sets.Add(1)}
	for i, t := range m.Targets {
		if keep(i) {
			n.Targets = append(n.Targets, t)
			n.Hooks = append(n.Hooks, t.Hook)
		}
	}
	return n
}

// narrow is Select for more targets than a mask holds: a new Matches each time.
func (m *Matches) narrow(labels map[string]string) *Matches {
	all := true
	for i := range m.Targets {
		if !m.Targets[i].Selector.Matches(labels) {
			all = false
			break
		}
	}
	if all {
		return m
	}
	n := m.subsets.make(m, func(i int) bool { return m.Targets[i].Selector.Matches(labels) })
	if len(n.Targets) == 0 {
		return nil
	}
	return n
}

func allOf(n int) uint64 {
	if n == 64 {
		return ^uint64(0)
	}
	return 1<<n - 1
}
