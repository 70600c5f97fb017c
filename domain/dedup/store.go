package dedup

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
)

// DefaultWindow is how long an event stays firing without a repeat before it is resolved.
const DefaultWindow = 10 * time.Minute

// State is where an entry is in its life.
type State string

const (
	Firing   State = "firing"
	Resolved State = "resolved"
)

// Outcome is what Observe made of an event.
type Outcome int

const (
	// NewFiring: the event is new trouble (first sight, or a sight after it resolved). Whoever
	// must be told of it should be told.
	NewFiring Outcome = iota + 1
	// Duplicate: the trouble is firing already; nobody is told again.
	Duplicate
	// Ended: the event resolved a firing entry.
	Ended
	// Ignored: the event changes nothing. It resolves trouble that is not firing (unknown, or
	// resolved already), or it reports trouble older than the resolution its source sent (a pod
	// listed again after a leader change shows a restart it had recovered from).
	Ignored
)

func (o Outcome) String() string {
	switch o {
	case NewFiring:
		return "new-firing"
	case Duplicate:
		return "duplicate"
	case Ended:
		return "ended"
	case Ignored:
		return "ignored"
	default:
		return "unknown"
	}
}

// Entry is the state of one event key for one hook.
type Entry struct {
	Hook  hook.Ref
	Key   event.Key
	State State
	// Resolution says why a resolved entry ended; empty while firing.
	Resolution event.Resolution
	// FirstSeen is when the current firing started; with Hook and Key it names the firing.
	FirstSeen time.Time
	// LastSeen is the latest sight.
	LastSeen time.Time
	// ResolvedAt is when a resolved entry ended; it is forgotten a window later.
	ResolvedAt time.Time
	// Occurrences counts the sights of the current firing, the first included.
	Occurrences int64
	// LastEvent is the latest occurrence: a retry renders the prompt from it.
	LastEvent event.Event
}

// Observation is Observe's answer.
type Observation struct {
	Outcome Outcome
	// FirstSeen names the firing the event belongs to (zero for Ignored).
	FirstSeen time.Time
}

// Store keeps entries per hook and key. It is safe for concurrent use; a sight of trouble takes
// only its hook's lock and copies nothing.
type Store struct {
	clock  clock.PassiveClock
	window time.Duration

	// tables maps each hook to its entries. It is replaced, never changed, so readers need no
	// lock; writers serialise on tablesMu.
	tables   atomic.Pointer[map[hook.Ref]*table]
	tablesMu sync.Mutex
}

// table holds one hook's entries.
type table struct {
	mu      sync.Mutex
	entries map[event.Key]*Entry
	// seen is set when a sight changed LastSeen or Occurrences only: worth writing to status
	// now and then, not at once.
	seen bool
}

// NewStore returns an empty store; a window <= 0 means DefaultWindow.
func NewStore(c clock.PassiveClock, window time.Duration) *Store {
	if window <= 0 {
		window = DefaultWindow
	}
	s := &Store{clock: c, window: window}
	s.tables.Store(&map[hook.Ref]*table{})
	return s
}

// Window returns the dedup window.
func (s *Store) Window() time.Duration { return s.window }

// Observe records a sight of e for hook ref: trouble fires or repeats; a resolution ends it.
func (s *Store) Observe(ref hook.Ref, e event.Event) Observation {
	now := s.clock.Now()
	key := e.Key()
	if e.Resolves() {
		if s.resolve(ref, key, e.Resolution, now) {
			return Observation{Outcome: Ended}
		}
		return Observation{Outcome: Ignored}
	}
	t := s.tableFor(ref)
	t.mu.Lock()
	defer t.mu.Unlock()
	ent := t.entries[key]
	if ent != nil && ent.State == Firing && now.Sub(ent.LastSeen) < s.window {
		ent.LastSeen = now
		ent.Occurrences++
		ent.LastEvent = e
		t.seen = true
		return Observation{Outcome: Duplicate, FirstSeen: ent.FirstSeen}
	}
	if ent != nil && ent.State == Resolved && ent.Resolution != event.Quiet && !e.Timestamp.IsZero() && !e.Timestamp.After(ent.ResolvedAt) {
		return Observation{Outcome: Ignored}
	}
	if ent == nil {
		ent = &Entry{Hook: ref, Key: key}
		t.entries[key] = ent
	}
	*ent = Entry{Hook: ref, Key: key, State: Firing, FirstSeen: now, LastSeen: now, Occurrences: 1, LastEvent: e}
	return Observation{Outcome: NewFiring, FirstSeen: now}
}

func (s *Store) resolve(ref hook.Ref, key event.Key, why event.Resolution, now time.Time) bool {
	t := s.existingTable(ref)
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ent := t.entries[key]
	if ent == nil || ent.State != Firing {
		return false
	}
	ent.State, ent.Resolution, ent.ResolvedAt = Resolved, why, now
	return true
}

// Get returns a copy of the entry of hook ref and key.
func (s *Store) Get(ref hook.Ref, key event.Key) (Entry, bool) {
	t := s.existingTable(ref)
	if t == nil {
		return Entry{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if ent, ok := t.entries[key]; ok {
		return *ent, true
	}
	return Entry{}, false
}

// Sweep resolves firing entries not seen for a window (as quiet) and forgets resolved ones a
// window after they resolved. It returns the entries it resolved, those it forgot and the hooks
// whose entries changed, each in a stable order.
func (s *Store) Sweep() (resolved, forgotten []Entry, changed []hook.Ref) {
	now := s.clock.Now()
	for ref, t := range *s.tables.Load() {
		touched := false
		t.mu.Lock()
		for key, ent := range t.entries {
			switch {
			case ent.State == Firing && now.Sub(ent.LastSeen) >= s.window:
				ent.State, ent.Resolution, ent.ResolvedAt = Resolved, event.Quiet, ent.LastSeen.Add(s.window)
				resolved = append(resolved, *ent)
				touched = true
			case ent.State == Resolved && now.Sub(ent.ResolvedAt) >= s.window:
				delete(t.entries, key)
				forgotten = append(forgotten, *ent)
				touched = true
			}
		}
		t.mu.Unlock()
		if touched {
			changed = append(changed, ref)
		}
	}
	sortEntries(resolved)
	sortEntries(forgotten)
	sortRefs(changed)
	return resolved, forgotten, changed
}

// Snapshot returns copies of the entries of hook ref, ordered by key, and clears the hook's
// "seen" mark.
func (s *Store) Snapshot(ref hook.Ref) []Entry {
	t := s.existingTable(ref)
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Entry, 0, len(t.entries))
	for _, ent := range t.entries {
		out = append(out, *ent)
	}
	t.seen = false
	sortEntries(out)
	return out
}

// Seen returns, in a stable order, the hooks whose entries were seen again since their last
// Snapshot: their LastSeen and Occurrences changed, nothing else.
func (s *Store) Seen() []hook.Ref {
	var refs []hook.Ref
	for ref, t := range *s.tables.Load() {
		t.mu.Lock()
		if t.seen {
			refs = append(refs, ref)
		}
		t.mu.Unlock()
	}
	sortRefs(refs)
	return refs
}

// Restore loads entries for hook ref, typically read back from the Hook's status after a restart,
// unless the store already holds entries for it (its own state is newer than any status). It
// returns how many firing entries it loaded, and false if it loaded nothing.
func (s *Store) Restore(ref hook.Ref, entries []Entry) (firing int, ok bool) {
	if len(entries) == 0 {
		return 0, false
	}
	t := s.tableFor(ref)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.entries) > 0 {
		return 0, false
	}
	for _, e := range entries {
		e.Hook = ref
		if e.LastEvent.Type == "" {
			e.LastEvent = event.Event{Type: e.Key.Type, Namespace: e.Key.Namespace, ResourceName: e.Key.ResourceName,
				Fingerprint: e.Key.Fingerprint, Timestamp: e.LastSeen}
		}
		if e.State == Firing {
			firing++
		}
		t.entries[e.Key] = &e
	}
	return firing, true
}

// Drop forgets every entry of hook ref, as when the Hook is deleted, and returns how many of
// them were firing.
func (s *Store) Drop(ref hook.Ref) (firing int) {
	s.tablesMu.Lock()
	defer s.tablesMu.Unlock()
	old := *s.tables.Load()
	t, ok := old[ref]
	if !ok {
		return 0
	}
	next := make(map[hook.Ref]*table, len(old))
	for r, tt := range old {
		if r != ref {
			next[r] = tt
		}
	}
	s.tables.Store(&next)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ent := range t.entries {
		if ent.State == Firing {
			firing++
		}
	}
	t.entries = map[event.Key]*Entry{} // a sight racing with the drop lands here, unseen
	return firing
}

func (s *Store) existingTable(ref hook.Ref) *table { return (*s.tables.Load())[ref] }

// tableFor returns the table of ref, adding one if there is none.
func (s *Store) tableFor(ref hook.Ref) *table {
	if t := s.existingTable(ref); t != nil {
		return t
	}
	s.tablesMu.Lock()
	defer s.tablesMu.Unlock()
	old := *s.tables.Load()
	if t, ok := old[ref]; ok {
		return t
	}
	next := make(map[hook.Ref]*table, len(old)+1)
	for r, t := range old {
		next[r] = t
	}
	t := &table{entries: map[event.Key]*Entry{}}
	next[ref] = t
	s.tables.Store(&next)
	return t
}

func sortEntries(es []Entry) {
	sort.Slice(es, func(i, j int) bool {
		if es[i].Hook != es[j].Hook {
			return es[i].Hook.String() < es[j].Hook.String()
		}
		return es[i].Key.String() < es[j].Key.String()
	})
}

func sortRefs(refs []hook.Ref) {
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
}
