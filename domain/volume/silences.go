package volume

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// MaxSilencesPerNamespace bounds the Silences khook holds for one namespace; Upsert refuses
// more. Silences that have ended may be removed by the caller (the Silence adapter removes them
// when they end), so the bound is on the silences that can still hold something.
const MaxSilencesPerNamespace = 100

// ErrTooManySilences is what Upsert returns (wrapped) when the namespace holds
// MaxSilencesPerNamespace silences already.
var ErrTooManySilences = errors.New("too many silences in the namespace")

// Silences is the set of silences khook knows, by namespace. It is safe for concurrent use;
// Muting and NextChange only read.
type Silences struct {
	// cluster lists the cluster event namespaces, whose Hooks are held by the silences of any of
	// them; clusterSet says whether a namespace is one.
	cluster    []string
	clusterSet map[string]bool

	mu sync.RWMutex
	ns map[string]*namespaceSilences
}

// namespaceSilences are the silences of one namespace, in a slice that Muting scans and an
// index by name.
type namespaceSilences struct {
	list  []Silence
	index map[string]int
}

// NewSilences returns an empty set. clusterEventNamespaces are the namespaces whose Hooks see
// cluster-wide events (-cluster-event-namespaces): a Silence in one of them holds the Hooks of
// all of them.
func NewSilences(clusterEventNamespaces []string) *Silences {
	s := &Silences{clusterSet: map[string]bool{}, ns: map[string]*namespaceSilences{}}
	for _, n := range clusterEventNamespaces {
		if n != "" && !s.clusterSet[n] {
			s.clusterSet[n] = true
			s.cluster = append(s.cluster, n)
		}
	}
	return s
}

// Upsert adds sil, or replaces the silence of its namespace and name. It refuses a silence that
// is not valid (an *InvalidSilenceError, see Silence.Validate) and a new one in a namespace that
// holds MaxSilencesPerNamespace already (ErrTooManySilences); a refused silence replaces
// nothing, so a valid earlier version of it stays in force (the caller may Remove it).
func (s *Silences) Upsert(sil Silence) error {
	if err := sil.Validate(); err != nil {
		return fmt.Errorf("silence %s: %w", sil, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.ns[sil.Namespace]
	if set == nil {
		set = &namespaceSilences{index: map[string]int{}}
		s.ns[sil.Namespace] = set
	}
	if i, ok := set.index[sil.Name]; ok {
		set.list[i] = sil
		return nil
	}
	if len(set.list) >= MaxSilencesPerNamespace {
		return fmt.Errorf("silence %s: namespace %s holds %d silences, the most khook applies: %w", sil, sil.Namespace, len(set.list), ErrTooManySilences)
	}
	set.index[sil.Name] = len(set.list)
	set.list = append(set.list, sil)
	return nil
}

// Remove forgets the silence of namespace and name, if there is one.
func (s *Silences) Remove(namespace, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.ns[namespace]
	if set == nil {
		return
	}
	i, ok := set.index[name]
	if !ok {
		return
	}
	last := len(set.list) - 1
	if i != last {
		set.list[i] = set.list[last]
		set.index[set.list[i].Name] = i
	}
	set.list[last] = Silence{}
	set.list = set.list[:last]
	delete(set.index, name)
	if len(set.list) == 0 {
		delete(s.ns, namespace)
	}
}

// UpsertSilence is Upsert, by the name the Silence adapter's registry gives it.
func (s *Silences) UpsertSilence(sil Silence) error { return s.Upsert(sil) }

// RemoveSilence is Remove, by the name the Silence adapter's registry gives it.
func (s *Silences) RemoveSilence(namespace, name string) { s.Remove(namespace, name) }

// Len is how many silences the set holds.
func (s *Silences) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, set := range s.ns {
		n += len(set.list)
	}
	return n
}

// Muting returns the silence that holds c at now, if one does: of those active, matching c and
// allowed to hold c's Hook, the one that ends last (then the first by namespace and name), so
// that the caller learns how long the hold may last. The silences allowed to hold a Hook are
// those of its namespace and, for a Hook in a cluster event namespace, those of every cluster
// event namespace; never those of another tenant. Muting allocates nothing.
func (s *Silences) Muting(c Candidate, now time.Time) (Silence, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var best *Silence
	if s.clusterSet[c.Hook.Namespace] {
		for _, n := range s.cluster {
			best = s.scan(n, &c, now, best)
		}
	} else {
		best = s.scan(c.Hook.Namespace, &c, now, best)
	}
	if best == nil {
		return Silence{}, false
	}
	return *best, true
}

// scan returns the better of best and the silences of namespace that hold c at now.
func (s *Silences) scan(namespace string, c *Candidate, now time.Time, best *Silence) *Silence {
	set := s.ns[namespace]
	if set == nil {
		return best
	}
	for i := range set.list {
		sil := &set.list[i]
		if sil.mutes(c, now) && (best == nil || later(sil, best)) {
			best = sil
		}
	}
	return best
}

// later says whether a ends after b, or at the same time and comes first by namespace and name.
func later(a, b *Silence) bool {
	if !a.EndsAt.Equal(b.EndsAt) {
		return a.EndsAt.After(b.EndsAt)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

// NextChange returns the first moment after now at which a silence starts or ends, if any
// will. Nothing happens by itself at that moment: a silence that ends emits nothing, so the
// caller looks again then at the incidents it holds (and one that starts may hold new ones).
// It reads every silence of every namespace.
func (s *Silences) NextChange(now time.Time) (time.Time, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var next time.Time
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, set := range s.ns {
		for i := range set.list {
			consider(set.list[i].StartsAt)
			consider(set.list[i].EndsAt)
		}
	}
	return next, !next.IsZero()
}
