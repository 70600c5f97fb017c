package dedup

import (
	"sort"
	"sync"
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

// Outcome is what Observe decided about an event.
type Outcome int

const (
	// Notify: the event is new trouble, or a repeat of trouble whose agent call failed; the
	// caller must call the agent and then Settle.
	Notify Outcome = iota + 1
	// Duplicate: the agent was already told, or a call is under way.
	Duplicate
)

func (o Outcome) String() string {
	switch o {
	case Notify:
		return "notify"
	case Duplicate:
		return "duplicate"
	default:
		return "unknown"
	}
}

// Entry is the state of one event key for one hook.
type Entry struct {
	Hook      hook.Ref
	Key       event.Key
	State     State
	FirstSeen time.Time
	LastSeen  time.Time
	// NotifiedAt is when every agent configured for this firing had been told; zero until then.
	NotifiedAt time.Time
	// LastNotifiedAt is the last time any agent was told of this key, across firings.
	LastNotifiedAt time.Time
	// Delivered names the agents already told during this firing (see hook.AgentRef.String).
	Delivered map[string]bool
	// InFlight is true while an agent call for this entry is under way.
	InFlight bool
	// LastEvent is the latest occurrence, used to render the prompt when a failed call is retried.
	LastEvent event.Event
	// Attempts counts the calls started for this firing.
	Attempts int
	// LastAttempt is when the latest call started.
	LastAttempt time.Time
}

// Notified reports whether every agent was told of this firing.
func (e Entry) Notified() bool { return !e.NotifiedAt.IsZero() }

func (e Entry) clone() Entry {
	if e.Delivered != nil {
		d := make(map[string]bool, len(e.Delivered))
		for k, v := range e.Delivered {
			d[k] = v
		}
		e.Delivered = d
	}
	return e
}

// Observation is Observe's answer.
type Observation struct {
	Outcome Outcome
	// NewFiring is true when this sight started a firing (first sight, or after resolved).
	NewFiring bool
	// Entry is a copy of the entry after the observation.
	Entry Entry
}

// Store keeps entries per hook and key.
type Store struct {
	clock  clock.PassiveClock
	window time.Duration

	mu      sync.Mutex
	entries map[hook.Ref]map[event.Key]*Entry
}

// NewStore returns an empty store; a window <= 0 means DefaultWindow.
func NewStore(c clock.PassiveClock, window time.Duration) *Store {
	if window <= 0 {
		window = DefaultWindow
	}
	return &Store{clock: c, window: window, entries: map[hook.Ref]map[event.Key]*Entry{}}
}

// Window returns the dedup window.
func (s *Store) Window() time.Duration { return s.window }

// Observe records a sight of e for hook ref and decides whether the agent is due.
// On Notify the entry is marked in flight: the caller must call Settle when the call ends.
func (s *Store) Observe(ref hook.Ref, e event.Event) Observation {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	byKey := s.entries[ref]
	if byKey == nil {
		byKey = map[event.Key]*Entry{}
		s.entries[ref] = byKey
	}
	key := e.Key()
	ent := byKey[key]
	newFiring := ent == nil || ent.State == Resolved || now.Sub(ent.LastSeen) >= s.window
	if newFiring && ent != nil && ent.InFlight {
		// A call for the previous firing is still running; it covers this sight too.
		newFiring = false
	}
	if newFiring {
		var lastNotified time.Time
		if ent != nil {
			lastNotified = ent.LastNotifiedAt
		}
		ent = &Entry{Hook: ref, Key: key, State: Firing, FirstSeen: now, LastNotifiedAt: lastNotified}
		byKey[key] = ent
	}
	ent.LastSeen = now
	ent.LastEvent = e
	if ent.InFlight || ent.Notified() {
		return Observation{Outcome: Duplicate, Entry: ent.clone()}
	}
	s.startLocked(ent, now)
	return Observation{Outcome: Notify, NewFiring: newFiring, Entry: ent.clone()}
}

func (s *Store) startLocked(ent *Entry, now time.Time) {
	ent.InFlight = true
	ent.Attempts++
	ent.LastAttempt = now
}

// Settle ends the call started by Observe or TakeDue: delivered names the agents told during it,
// and complete says whether every configured agent has now been told. An incomplete call leaves
// the entry due for a retry.
func (s *Store) Settle(ref hook.Ref, key event.Key, delivered []string, complete bool) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ent := s.entries[ref][key]
	if ent == nil { // the hook was deleted meanwhile
		return
	}
	ent.InFlight = false
	if len(delivered) > 0 {
		if ent.Delivered == nil {
			ent.Delivered = map[string]bool{}
		}
		for _, d := range delivered {
			ent.Delivered[d] = true
		}
		ent.LastNotifiedAt = now
	}
	if complete && ent.NotifiedAt.IsZero() {
		ent.NotifiedAt = now
	}
}

// TakeDue marks in flight, and returns, the firing entries whose agent call failed and whose
// latest attempt started at least retryAfter ago. The caller calls the agent for each and Settles.
func (s *Store) TakeDue(retryAfter time.Duration) []Entry {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []Entry
	for _, byKey := range s.entries {
		for _, ent := range byKey {
			if ent.State != Firing || ent.InFlight || ent.Notified() || now.Sub(ent.LastAttempt) < retryAfter {
				continue
			}
			s.startLocked(ent, now)
			due = append(due, ent.clone())
		}
	}
	sortEntries(due)
	return due
}

// Sweep resolves firing entries not seen for a window and forgets resolved ones a window later.
// It returns the entries it resolved and the hooks whose entries changed.
func (s *Store) Sweep() (resolved []Entry, changed []hook.Ref) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for ref, byKey := range s.entries {
		touched := false
		for key, ent := range byKey {
			if ent.InFlight {
				continue
			}
			quiet := now.Sub(ent.LastSeen)
			switch {
			case ent.State == Firing && quiet >= s.window:
				ent.State = Resolved
				resolved = append(resolved, ent.clone())
				touched = true
			case ent.State == Resolved && quiet >= 2*s.window:
				delete(byKey, key)
				touched = true
			}
		}
		if len(byKey) == 0 {
			delete(s.entries, ref)
		}
		if touched {
			changed = append(changed, ref)
		}
	}
	sortEntries(resolved)
	sort.Slice(changed, func(i, j int) bool { return changed[i].String() < changed[j].String() })
	return resolved, changed
}

// Snapshot returns copies of the entries of hook ref, ordered by key.
func (s *Store) Snapshot(ref hook.Ref) []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, 0, len(s.entries[ref]))
	for _, ent := range s.entries[ref] {
		out = append(out, ent.clone())
	}
	sortEntries(out)
	return out
}

// Restore loads entries for hook ref, typically read back from the Hook's status after a restart,
// unless the store already holds entries for it (its own state is newer than any status). An
// entry whose NotifiedAt is set counts as fully delivered; one without is due for a retry.
// It reports whether it loaded anything.
func (s *Store) Restore(ref hook.Ref, entries []Entry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries[ref]) > 0 || len(entries) == 0 {
		return false
	}
	byKey := make(map[event.Key]*Entry, len(entries))
	for _, e := range entries {
		e := e.clone()
		e.Hook = ref
		e.InFlight = false
		if e.LastEvent.Type == "" {
			e.LastEvent = event.Event{Type: e.Key.Type, Namespace: e.Key.Namespace, ResourceName: e.Key.ResourceName, Timestamp: e.LastSeen}
		}
		byKey[e.Key] = &e
	}
	s.entries[ref] = byKey
	return true
}

// Drop forgets every entry of hook ref, as when the Hook is deleted.
func (s *Store) Drop(ref hook.Ref) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, ref)
}

func sortEntries(es []Entry) {
	sort.Slice(es, func(i, j int) bool {
		if es[i].Hook != es[j].Hook {
			return es[i].Hook.String() < es[j].Hook.String()
		}
		return es[i].Key.String() < es[j].Key.String()
	})
}
