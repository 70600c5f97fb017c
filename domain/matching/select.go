package matching

import (
	"slices"
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
	if len(m.Targets) > maxMaskedTargets {
		return m.narrow(labels)
	}
	var buf [maxMaskedTargets / 64]uint64
	mask := buf[:(len(m.Targets)+63)/64]
	kept := 0
	for i := range m.Targets {
		if m.Targets[i].Selector.Matches(labels) {
			mask[i/64] |= 1 << (i % 64)
			kept++
		}
	}
	switch kept {
	case 0:
		return nil
	case len(m.Targets):
		return m
	}
	return m.subsets.get(m, mask)
}

// maxMaskedTargets is how many targets Select narrows through its kept sets; past it (that many
// Hooks of one event type in one namespace, all selecting), each call makes its own.
const maxMaskedTargets = 1024

// maxSubsets bounds the narrowed Matches kept for one Matches: the sets of targets its events'
// labels pick. Hooks select a few kinds of resources, so a handful is the rule.
const maxSubsets = 64

// subsets keeps the narrowed Matches of one Matches by the mask of the targets they hold.
type subsets struct {
	sets *atomic.Uint64 // the index's numbering of narrowed sets
	mu   sync.Mutex
	// kept is replaced, never changed, once published: readers take no lock.
	kept atomic.Pointer[[]subset]
}

// subset is one kept narrowed Matches and the mask of the targets it holds.
type subset struct {
	mask    []uint64
	matches *Matches
}

func (s *subsets) get(m *Matches, mask []uint64) *Matches {
	if n := s.find(mask); n != nil {
		return n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.find(mask); n != nil {
		return n
	}
	n := s.make(m, func(i int) bool { return mask[i/64]&(1<<(i%64)) != 0 })
	var cur []subset
	if p := s.kept.Load(); p != nil {
		cur = *p
	}
	if len(cur) >= maxSubsets {
		return n // not kept: a fresh Set each time, correct but off the dedup's fast path
	}
	next := append(slices.Clip(cur), subset{mask: slices.Clone(mask), matches: n})
	s.kept.Store(&next)
	return n
}

// find returns the kept Matches of mask, or nil. It allocates nothing.
func (s *subsets) find(mask []uint64) *Matches {
	p := s.kept.Load()
	if p == nil {
		return nil
	}
	for i := range *p {
		if slices.Equal((*p)[i].mask, mask) {
			return (*p)[i].matches
		}
	}
	return nil
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
