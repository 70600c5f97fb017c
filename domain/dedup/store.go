package dedup

import (
	"hash/maphash"
	"slices"
	"sort"
	"strings"
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
	// listed again after a leader change shows a restart it had recovered from). Both times are
	// the source's own: trouble that started after its source said the last trouble ended fires,
	// however late khook hears of either (an alert that resolves and fires again).
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
	// LastEvent is the latest occurrence of the key: a retry renders the prompt from it.
	LastEvent event.Event
	// Partial: LastEvent holds only the key and times, as restored from a status that did not
	// keep the event's details; the next sight of the key completes it. No prompt is rendered
	// from a partial event.
	Partial bool
}

// Observation is Observe's answer.
type Observation struct {
	Outcome Outcome
	// FirstSeen names the firing the event belongs to (zero for Ignored).
	FirstSeen time.Time
}

// shardCount spreads the keys over this many locks, so that sights of different keys on
// different cores rarely wait for each other.
const shardCount = 64

// Store keeps entries per hook and key. It is safe for concurrent use and built for event
// storms: see ObserveAll.
type Store struct {
	clock  clock.PassiveClock
	window time.Duration
	seed   maphash.Seed
	shards [shardCount]shard

	// hooks indexes, per hook, the keys it has an entry for: what Snapshot, Restore and
	// Drop walk. It changes when an entry is made or forgotten, never on a repeat. Lock order:
	// a shard's lock, then hooksMu.
	hooksMu   sync.Mutex
	hooks     map[hook.Ref]map[*row]struct{}
	hooksPeak int
}

type shard struct {
	mu sync.Mutex
	// rows holds the shard's rows by the hash of their key; the rare keys of equal hash are
	// chained. A map keyed by the hash is a fifth the size of one keyed by the key.
	rows map[uint64]*row
	peak int           // the most rows held since the map was last made: Sweep shrinks it
	_    [64 - 24]byte // a cache line each: cores working on different shards do not collide
}

// row is what the store knows of one key: its latest sight, shared by every hook, and each
// hook's entry. Its shard's lock guards it.
type row struct {
	hash uint64
	next *row // of the same hash
	// lastEvent is the latest occurrence of the key; its Key() is the row's key. partial: it was
	// restored without its details (see Entry.Partial).
	lastEvent event.Event
	partial   bool
	lastSeen  int64 // Unix nanoseconds, as every time the store keeps
	sights    int64 // sights of the key since the row was made
	// repeating names the set of hooks (see ObserveAll) that all fire this key and follow its
	// sights: while it is set, a sight for that set only counts on the row. Zero: none.
	repeating uint64
	followers int     // how many hooks the repeating set has: a guard against a set misnamed
	entries   []entry // ordered by hook
}

// entry is one hook's state for a row's key.
type entry struct {
	hook                            hook.Ref
	resolution                      event.Resolution
	firstSeen, lastSeen, resolvedAt int64
	// resolvedBy is the resolution's own time, as its source stamped it (khook's clock when it
	// did not): trouble the source stamped earlier is history.
	resolvedBy  int64
	occurrences int64
	// base: while the entry follows the row's sights (follows), its occurrences are the row's
	// sights minus base, and its lastSeen is the row's.
	base int64
	// written is how many occurrences the last Snapshot saw: more now means "seen again".
	written int64
	firing  bool
	follows bool
}

// NewStore returns an empty store; a window <= 0 means DefaultWindow.
func NewStore(c clock.PassiveClock, window time.Duration) *Store {
	if window <= 0 {
		window = DefaultWindow
	}
	s := &Store{clock: c, window: window, seed: maphash.MakeSeed(), hooks: map[hook.Ref]map[*row]struct{}{}}
	for i := range s.shards {
		s.shards[i].rows = map[uint64]*row{}
	}
	return s
}

// Window returns the dedup window.
func (s *Store) Window() time.Duration { return s.window }

// Observe records a sight of e for hook ref: trouble fires or repeats; a resolution ends it.
func (s *Store) Observe(ref hook.Ref, e event.Event) Observation {
	var out [1]Observation
	s.ObserveAll(0, []hook.Ref{ref}, e, out[:0])
	return out[0]
}

// ObserveAll records a sight of e for each hook of refs, the hooks it matched, and appends an
// observation per hook to out, in the order of refs.
//
// set names that set of hooks, as matching.Matches.Set does (0: unnamed). Once every hook of a
// named set fires e's key, the next sights of the key for the same set are duplicates for all of
// them, and ObserveAll only counts them, whatever the number of hooks: it returns out unchanged
// and true. This is the event-storm path; it allocates nothing and takes only the key's shard
// lock. Any other change to the key's entries ends it until a sight finds all firing again.
func (s *Store) ObserveAll(set uint64, refs []hook.Ref, e event.Event, out []Observation) (_ []Observation, allDuplicates bool) {
	key := e.Key()
	now := s.clock.Now().UnixNano()
	window := int64(s.window)
	hash := s.hash(key)
	sh := &s.shards[hash%shardCount]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.find(hash, key)
	if set != 0 && r != nil && r.repeating == set && r.followers == len(refs) && !e.Resolves() && now-r.lastSeen < window {
		r.sights++
		r.lastSeen, r.lastEvent, r.partial = now, e, false
		return out, true
	}
	if e.Resolves() {
		first := len(out)
		for range refs {
			out = append(out, Observation{Outcome: Ignored})
		}
		if r == nil {
			return out, false
		}
		r.stopRepeating()
		by := now
		if !e.Timestamp.IsZero() {
			by = e.Timestamp.UnixNano()
		}
		for i, ref := range refs {
			if ent := r.entry(ref); ent != nil && ent.firing {
				ent.firing, ent.resolution, ent.resolvedAt, ent.resolvedBy = false, e.Resolution, now, by
				out[first+i] = Observation{Outcome: Ended}
			}
		}
		return out, false
	}
	if len(refs) == 0 {
		return out, false
	}
	if r == nil {
		r = sh.add(hash)
	}
	r.stopRepeating()
	r.sights++
	r.lastSeen, r.lastEvent, r.partial = now, e, false
	repeating := set != 0
	for _, ref := range refs {
		ent := r.entry(ref)
		switch {
		case ent != nil && ent.firing && now-ent.lastSeen < window:
			ent.lastSeen = now
			ent.occurrences++
			out = append(out, Observation{Outcome: Duplicate, FirstSeen: timeOf(ent.firstSeen)})
		case ent != nil && !ent.firing && ent.resolution != event.Quiet && !e.Timestamp.IsZero() && e.Timestamp.UnixNano() < ent.resolvedBy:
			repeating = false
			out = append(out, Observation{Outcome: Ignored})
		default:
			if ent == nil {
				ent = s.addEntry(r, ref)
			}
			*ent = entry{hook: ref, firing: true, firstSeen: now, lastSeen: now, occurrences: 1, written: 1}
			out = append(out, Observation{Outcome: NewFiring, FirstSeen: timeOf(now)})
		}
	}
	if repeating {
		for _, ref := range refs {
			ent := r.entry(ref)
			ent.follows, ent.base = true, r.sights-ent.occurrences
		}
		r.repeating, r.followers = set, len(refs)
	}
	return out, false
}

// Get returns a copy of the entry of hook ref and key.
func (s *Store) Get(ref hook.Ref, key event.Key) (Entry, bool) {
	hash := s.hash(key)
	sh := &s.shards[hash%shardCount]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if r := sh.find(hash, key); r != nil {
		if ent := r.entry(ref); ent != nil {
			return r.export(ent), true
		}
	}
	return Entry{}, false
}

// Sweep resolves firing entries not seen for a window (as quiet) and forgets resolved ones a
// window after they resolved. It returns the entries it resolved, those it forgot and the hooks
// whose entries changed, each in a stable order.
func (s *Store) Sweep() (resolved, forgotten []Entry, changed []hook.Ref) {
	now, window := s.clock.Now().UnixNano(), int64(s.window)
	touched := map[hook.Ref]bool{}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for hash, first := range sh.rows {
			emptied := false
			for r := first; r != nil; r = r.next {
				if !r.due(now, window) {
					continue
				}
				r.stopRepeating()
				kept := r.entries[:0]
				for _, ent := range r.entries {
					switch {
					case ent.firing && now-ent.lastSeen >= window:
						ent.firing, ent.resolution, ent.resolvedAt = false, event.Quiet, ent.lastSeen+window
						resolved = append(resolved, r.export(&ent))
						touched[ent.hook] = true
					case !ent.firing && now-ent.resolvedAt >= window:
						forgotten = append(forgotten, r.export(&ent))
						touched[ent.hook] = true
						s.unindex(ent.hook, r)
						continue
					}
					kept = append(kept, ent)
				}
				clear(r.entries[len(kept):])
				r.entries = kept
				emptied = emptied || len(kept) == 0
			}
			if emptied {
				sh.dropEmpty(hash)
			}
		}
		sh.shrink()
		sh.mu.Unlock()
	}
	s.hooksMu.Lock()
	if s.hooksPeak > 64 && len(s.hooks) < s.hooksPeak/4 {
		s.hooks, s.hooksPeak = remade(s.hooks), len(s.hooks)
	}
	s.hooksMu.Unlock()
	for ref := range touched {
		changed = append(changed, ref)
	}
	sortEntries(resolved)
	sortEntries(forgotten)
	sortRefs(changed)
	return resolved, forgotten, changed
}

// due reports whether Sweep has something to do with r at now.
func (r *row) due(now, window int64) bool {
	for i := range r.entries {
		ent := &r.entries[i]
		lastSeen := ent.lastSeen
		if ent.follows {
			lastSeen = r.lastSeen
		}
		if ent.firing && now-lastSeen >= window || !ent.firing && now-ent.resolvedAt >= window {
			return true
		}
	}
	return false
}

// Snapshot returns copies of the entries of hook ref, ordered by key, and marks them written:
// Seen no longer names the hook for what they show.
func (s *Store) Snapshot(ref hook.Ref) []Entry {
	rows := s.rowsOf(ref)
	out := make([]Entry, 0, len(rows))
	for _, r := range rows {
		sh := &s.shards[r.hash%shardCount]
		sh.mu.Lock()
		if ent := r.entry(ref); ent != nil {
			e := r.export(ent)
			ent.written = e.Occurrences
			out = append(out, e)
		}
		sh.mu.Unlock()
	}
	sortEntries(out)
	return out
}

// Top returns the n most interesting entries of hook ref — firing before resolved, the most
// recently seen first — ordered that way, and how many entries the Hook has and how many of them
// fire. Unlike Snapshot it keeps at most n entries whatever the Hook holds, and marks nothing
// written: a Hook's status summary reads it.
func (s *Store) Top(ref hook.Ref, n int) (top []Entry, firing, total int) {
	rows := s.rowsOf(ref)
	better := func(a, b Entry) bool {
		if (a.State == Firing) != (b.State == Firing) {
			return a.State == Firing
		}
		if !a.LastSeen.Equal(b.LastSeen) {
			return a.LastSeen.After(b.LastSeen)
		}
		return a.Key.String() < b.Key.String()
	}
	for _, r := range rows {
		sh := &s.shards[r.hash%shardCount]
		sh.mu.Lock()
		ent := r.entry(ref)
		if ent == nil {
			sh.mu.Unlock()
			continue
		}
		e := r.export(ent)
		sh.mu.Unlock()
		total++
		if e.State == Firing {
			firing++
		}
		switch {
		case len(top) < n:
			top = append(top, e)
		case n > 0 && better(e, top[len(top)-1]):
			top[len(top)-1] = e
		default:
			continue
		}
		for i := len(top) - 1; i > 0 && better(top[i], top[i-1]); i-- { // keep top sorted: n is small
			top[i], top[i-1] = top[i-1], top[i]
		}
	}
	return top, firing, total
}

// Seen returns, in a stable order, the hooks whose entries were seen again since their last
// Snapshot: their LastSeen and Occurrences changed, nothing else.
func (s *Store) Seen() []hook.Ref {
	seen := map[hook.Ref]bool{}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, first := range sh.rows {
			for r := first; r != nil; r = r.next {
				for j := range r.entries {
					if ent := &r.entries[j]; r.occurrencesOf(ent) != ent.written {
						seen[ent.hook] = true
					}
				}
			}
		}
		sh.mu.Unlock()
	}
	refs := make([]hook.Ref, 0, len(seen))
	for ref := range seen {
		refs = append(refs, ref)
	}
	sortRefs(refs)
	return refs
}

// Restore loads entries for hook ref, typically read back from the Hook's status after a restart,
// unless the store already holds entries for it (its own state is newer than any status): an
// entry a sight made meanwhile is kept, not overwritten. It returns how many firing entries it
// loaded, and false if it loaded nothing.
func (s *Store) Restore(ref hook.Ref, entries []Entry) (firing int, ok bool) {
	if len(entries) == 0 || s.hasEntries(ref) {
		return 0, false
	}
	loaded := 0
	for _, e := range entries {
		partial := e.Partial || e.LastEvent.Type == ""
		if e.LastEvent.Type == "" || e.LastEvent.Key() != e.Key {
			last := e.LastEvent
			last.Type, last.Namespace, last.ResourceName, last.Fingerprint = e.Key.Type, e.Key.Namespace, e.Key.ResourceName, e.Key.Fingerprint
			if last.Timestamp.IsZero() {
				last.Timestamp = e.LastSeen
			}
			e.LastEvent = last
		}
		hash := s.hash(e.Key)
		sh := &s.shards[hash%shardCount]
		sh.mu.Lock()
		r := sh.find(hash, e.Key)
		if r == nil {
			r = sh.add(hash)
		} else if r.entry(ref) != nil {
			sh.mu.Unlock()
			continue // a sight of the key made it meanwhile: newer than the status
		}
		r.stopRepeating()
		lastSeen := nanosOf(e.LastSeen)
		// Another Hook's status may have kept the event the status at hand did not: details win
		// over none, then the newer sight.
		if r.lastEvent.Type == "" || (r.partial && !partial) || (r.partial == partial && lastSeen > r.lastSeen) {
			r.lastEvent, r.partial = e.LastEvent, partial
		}
		r.lastSeen = max(r.lastSeen, lastSeen)
		ent := s.addEntry(r, ref)
		resolvedAt := nanosOf(e.ResolvedAt)
		*ent = entry{hook: ref, firing: e.State == Firing, resolution: e.Resolution, firstSeen: nanosOf(e.FirstSeen),
			lastSeen: lastSeen, resolvedAt: resolvedAt, resolvedBy: resolvedAt, occurrences: e.Occurrences, written: e.Occurrences}
		sh.mu.Unlock()
		loaded++
		if e.State == Firing {
			firing++
		}
	}
	return firing, loaded > 0
}

// Drop forgets every entry of hook ref, as when the Hook is deleted, and returns how many of
// them were firing.
func (s *Store) Drop(ref hook.Ref) (firing int) {
	s.hooksMu.Lock()
	rows := s.hooks[ref]
	delete(s.hooks, ref)
	s.hooksMu.Unlock()
	for r := range rows {
		sh := &s.shards[r.hash%shardCount]
		sh.mu.Lock()
		if i, found := r.find(ref); found {
			r.stopRepeating()
			if r.entries[i].firing {
				firing++
			}
			r.entries = slices.Delete(r.entries, i, i+1)
			s.unindex(ref, r) // in case a sight indexed it again meanwhile
			if len(r.entries) == 0 {
				sh.dropEmpty(r.hash)
			}
		}
		sh.mu.Unlock()
	}
	return firing
}

// hash returns the hash of key, which picks its shard and its place there: each field hashed on
// its own (maphash.String is the cheapest way to hash a string) and mixed, so that fields cannot
// trade characters ("a","bc" differs from "ab","c").
func (s *Store) hash(key event.Key) uint64 {
	const mix = 0x9e3779b97f4a7c15 // an odd constant with well-spread bits (2^64 / golden ratio)
	h := maphash.String(s.seed, string(key.Type))
	h = (h ^ maphash.String(s.seed, key.Namespace)) * mix
	h = (h ^ maphash.String(s.seed, key.ResourceName)) * mix
	if key.Fingerprint != "" {
		h = (h ^ maphash.String(s.seed, key.Fingerprint)) * mix
	}
	return h ^ h>>29
}

// find returns the row of key, whose hash is hash, or nil.
func (sh *shard) find(hash uint64, key event.Key) *row {
	for r := sh.rows[hash]; r != nil; r = r.next {
		if r.lastEvent.Key() == key {
			return r
		}
	}
	return nil
}

// add makes an empty row of the given hash; the caller gives it its lastEvent at once.
func (sh *shard) add(hash uint64) *row {
	r := &row{hash: hash, next: sh.rows[hash]}
	sh.rows[hash] = r
	sh.peak = max(sh.peak, len(sh.rows))
	return r
}

// dropEmpty takes the rows of the given hash that hold no entry out of the shard.
func (sh *shard) dropEmpty(hash uint64) {
	var kept *row
	for r := sh.rows[hash]; r != nil; {
		next := r.next
		if len(r.entries) > 0 {
			r.next, kept = kept, r
		}
		r = next
	}
	if kept == nil {
		delete(sh.rows, hash)
	} else {
		sh.rows[hash] = kept
	}
}

// shrink makes the map anew when it holds far fewer rows than it once did: a Go map never gives
// back the room it grew to.
func (sh *shard) shrink() {
	if sh.peak > 64 && len(sh.rows) < sh.peak/4 {
		sh.rows, sh.peak = remade(sh.rows), len(sh.rows)
	}
}

// hasEntries reports whether hook ref has an entry.
func (s *Store) hasEntries(ref hook.Ref) bool {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	return len(s.hooks[ref]) > 0
}

// rowsOf returns the rows holding an entry of hook ref.
func (s *Store) rowsOf(ref hook.Ref) []*row {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	rows := make([]*row, 0, len(s.hooks[ref]))
	for r := range s.hooks[ref] {
		rows = append(rows, r)
	}
	return rows
}

// addEntry adds an empty entry of ref to r and indexes it; the caller holds r's shard lock.
func (s *Store) addEntry(r *row, ref hook.Ref) *entry {
	i, _ := r.find(ref)
	r.entries = slices.Insert(r.entries, i, entry{hook: ref})
	s.hooksMu.Lock()
	rows := s.hooks[ref]
	if rows == nil {
		rows = map[*row]struct{}{}
		s.hooks[ref] = rows
		s.hooksPeak = max(s.hooksPeak, len(s.hooks))
	}
	rows[r] = struct{}{}
	s.hooksMu.Unlock()
	return &r.entries[i]
}

// unindex forgets that ref has an entry in r; the caller holds r's shard lock.
func (s *Store) unindex(ref hook.Ref, r *row) {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	if rows := s.hooks[ref]; rows != nil {
		delete(rows, r)
		if len(rows) == 0 {
			delete(s.hooks, ref)
		}
	}
}

// stopRepeating ends the row's repeating: the entries that followed its sights take them over.
func (r *row) stopRepeating() {
	if r.repeating == 0 {
		return
	}
	for i := range r.entries {
		if ent := &r.entries[i]; ent.follows {
			ent.occurrences, ent.lastSeen = r.sights-ent.base, r.lastSeen
			ent.follows = false
		}
	}
	r.repeating = 0
}

func (r *row) occurrencesOf(ent *entry) int64 {
	if ent.follows {
		return r.sights - ent.base
	}
	return ent.occurrences
}

// find returns where ref's entry is in r.entries, or where it belongs.
func (r *row) find(ref hook.Ref) (int, bool) {
	return slices.BinarySearchFunc(r.entries, ref, func(ent entry, ref hook.Ref) int { return compareRefs(ent.hook, ref) })
}

func (r *row) entry(ref hook.Ref) *entry {
	if i, ok := r.find(ref); ok {
		return &r.entries[i]
	}
	return nil
}

// export returns ent, an entry of r, as an Entry.
func (r *row) export(ent *entry) Entry {
	e := Entry{Hook: ent.hook, Key: r.lastEvent.Key(), State: Resolved, Resolution: ent.resolution, FirstSeen: timeOf(ent.firstSeen),
		LastSeen: timeOf(ent.lastSeen), ResolvedAt: timeOf(ent.resolvedAt), Occurrences: ent.occurrences, LastEvent: r.lastEvent, Partial: r.partial}
	if ent.firing {
		e.State = Firing
	}
	if ent.follows {
		e.Occurrences, e.LastSeen = r.sights-ent.base, timeOf(r.lastSeen)
	}
	return e
}

// remade returns a copy of m sized for what it holds now (maps.Clone keeps the room m grew to).
func remade[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// timeOf and nanosOf convert between the store's Unix nanoseconds (0: none) and times (UTC).
func timeOf(nanos int64) time.Time {
	if nanos == 0 {
		return time.Time{}
	}
	return time.Unix(0, nanos).UTC()
}

func nanosOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func compareRefs(a, b hook.Ref) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

func sortEntries(es []Entry) {
	sort.Slice(es, func(i, j int) bool {
		if es[i].Hook != es[j].Hook {
			return compareRefs(es[i].Hook, es[j].Hook) < 0
		}
		return es[i].Key.String() < es[j].Key.String()
	})
}

func sortRefs(refs []hook.Ref) {
	slices.SortFunc(refs, compareRefs)
}
