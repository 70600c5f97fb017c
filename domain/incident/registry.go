package incident

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
)

// MaxMembers is how many members an incident names; more are counted.
const MaxMembers = 50

// Suppression says why an incident starts no investigation.
type Suppression struct {
	// Reason is one word: backlog (and, to come, silenced, rate-limited, cooldown, inhibited).
	Reason string
	// Message says by what, for people.
	Message string
}

// Backlog: the Hook already has as many open incidents as it may (or an agent as many waiting
// deliveries): khook records the incident and starts no investigation.
const Backlog = "backlog"

// Incident is one Hook's trouble of one event type about one subject, from its first member's
// firing until its last member resolved.
type Incident struct {
	Key Key
	// Name is the name of its investigation (InvestigationName).
	Name string
	// StartedAt is when its first member started firing.
	StartedAt time.Time
	// First is the occurrence that opened it. Partial: First holds only its key and time (read
	// back from a status that did not keep the event); no prompt is rendered from it.
	First   event.Event
	Partial bool
	// Members names the first MaxMembers resources that fired (their event keys), in order;
	// MemberCount counts them all.
	Members     []event.Key
	MemberCount int
	// LastSeen is the latest sighting of a member.
	LastSeen time.Time
	// Resolved: every member resolved, at ResolvedAt, the last one for Resolution.
	Resolved   bool
	ResolvedAt time.Time
	Resolution event.Resolution
	// Suppressed, when its Reason is set, says why the incident starts no investigation;
	// Unrecorded, that it is only counted, not written (see Registry.Unrecord).
	Suppressed Suppression
	Unrecorded bool

	firing map[event.Key]bool // its members firing now, by key: true
}

// Open reports whether the incident is still firing.
func (in *Incident) Open() bool { return !in.Resolved }

// Firing counts its members firing now.
func (in *Incident) Firing() int { return len(in.firing) }

// clone returns a copy the caller may keep.
func (in *Incident) clone() Incident {
	c := *in
	c.Members = slices.Clone(in.Members)
	c.firing = nil
	return c
}

// Registry keeps each Hook's incidents. Make one with NewRegistry; it is safe for concurrent use.
type Registry struct {
	mu    sync.Mutex
	hooks map[hook.Ref]*hookIncidents
}

// hookIncidents is one Hook's incidents, by key, and the incident each member belongs to.
type hookIncidents struct {
	byKey    map[Key]*Incident
	byMember map[event.Key]*Incident
	// live holds the incidents not suppressed: what a Hook's status walks, however many
	// suppressed ones a storm left.
	live         map[Key]*Incident
	open         int            // live incidents not resolved
	suppressedBy map[string]int // suppressed incidents held, by reason
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{hooks: map[hook.Ref]*hookIncidents{}} }

func (r *Registry) of(ref hook.Ref) *hookIncidents {
	h := r.hooks[ref]
	if h == nil {
		h = &hookIncidents{byKey: map[Key]*Incident{}, byMember: map[event.Key]*Incident{}, live: map[Key]*Incident{}, suppressedBy: map[string]int{}}
		r.hooks[ref] = h
	}
	return h
}

// Opening is what Fire needs to open an incident: how to name its investigation, and whether it
// must be suppressed (a nil Suppress suppresses nothing). Suppress is asked with the number of
// incidents of the Hook that are open now.
type Opening struct {
	Name     func(k Key, startedAt time.Time) string
	Suppress func(open int) Suppression
	// Partial: e holds only its key and time (see Incident.Partial).
	Partial bool
}

// Fire records that member, whose latest occurrence is e, started firing at firstSeen as part of
// incident k of Hook ref. When k has no open incident, one is opened (replacing a resolved one of
// the same key, whose investigation is over), and opened is true; otherwise the member joins the
// open one. It returns a copy of the incident.
func (r *Registry) Fire(ref hook.Ref, k Key, member event.Key, e event.Event, firstSeen time.Time, how Opening) (inc Incident, opened bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.of(ref)
	cur := h.byKey[k]
	if cur == nil || cur.Resolved {
		if cur != nil {
			h.forget(cur)
		}
		cur = &Incident{Key: k, StartedAt: firstSeen, First: e, Partial: how.Partial, firing: map[event.Key]bool{}}
		if how.Suppress != nil {
			cur.Suppressed = how.Suppress(h.open)
		}
		if how.Name != nil {
			cur.Name = how.Name(k, firstSeen)
		}
		h.add(cur)
		opened = true
	}
	if old := h.member(member); old != nil && old != cur {
		delete(old.firing, member) // it moved: another subject's incident now (its Hook changed its grouping)
	}
	h.byMember[member] = cur
	if !slices.Contains(cur.Members, member) {
		if len(cur.Members) < MaxMembers {
			cur.Members = append(cur.Members, member)
		}
		cur.MemberCount++
	}
	cur.firing[member] = true
	cur.LastSeen = maxTime(cur.LastSeen, firstSeen)
	return cur.clone(), opened
}

// Seen records a sighting of a firing member at at (its incident's LastSeen).
func (r *Registry) Seen(ref hook.Ref, member event.Key, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.hooks[ref]; h != nil {
		if cur := h.member(member); cur != nil {
			cur.LastSeen = maxTime(cur.LastSeen, at)
		}
	}
}

// Resolve records that member stopped firing at at, for why. When it was the last member of its
// incident still firing, the incident resolves and closed is true. ok is false when the member
// belongs to no incident of the Hook.
func (r *Registry) Resolve(ref hook.Ref, member event.Key, why event.Resolution, at time.Time) (inc Incident, closed, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hooks[ref]
	if h == nil {
		return Incident{}, false, false
	}
	cur := h.member(member)
	if cur == nil {
		return Incident{}, false, false
	}
	delete(cur.firing, member)
	if len(cur.firing) == 0 && !cur.Resolved {
		cur.Resolved, cur.ResolvedAt, cur.Resolution = true, at, why
		if cur.Suppressed.Reason == "" && h.live[cur.Key] == cur {
			h.open--
		}
		closed = true
	}
	return cur.clone(), closed, true
}

// Forget drops member from its incident: its dedup entry was forgotten. When the incident is
// resolved and no member of it is left, the incident is forgotten too, and gone is true.
func (r *Registry) Forget(ref hook.Ref, member event.Key) (k Key, gone bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hooks[ref]
	if h == nil {
		return Key{}, false
	}
	cur := h.member(member)
	if cur == nil {
		return Key{}, false
	}
	delete(h.byMember, member)
	delete(cur.firing, member)
	if !cur.Resolved {
		return cur.Key, false
	}
	for _, m := range cur.Members {
		if h.byMember[m] == cur {
			return cur.Key, false
		}
	}
	h.forget(cur) // members beyond the named ones are forgotten with their own dedup entries
	if len(h.byKey) == 0 {
		delete(r.hooks, ref)
	}
	return cur.Key, true
}

// add puts incident cur in h.
func (h *hookIncidents) add(cur *Incident) {
	h.byKey[cur.Key] = cur
	if cur.Suppressed.Reason != "" {
		h.suppressedBy[cur.Suppressed.Reason]++
		return
	}
	h.live[cur.Key] = cur
	if !cur.Resolved {
		h.open++
	}
}

// forget drops incident cur of h. The members it names are unmapped at once; those beyond
// MaxMembers map to it until they are looked up or forgotten (member drops such a stale mapping),
// so that no call walks every member of a Hook.
func (h *hookIncidents) forget(cur *Incident) {
	if h.byKey[cur.Key] != cur {
		return
	}
	delete(h.byKey, cur.Key)
	for _, m := range cur.Members {
		if h.byMember[m] == cur {
			delete(h.byMember, m)
		}
	}
	if cur.Suppressed.Reason != "" {
		if h.suppressedBy[cur.Suppressed.Reason]--; h.suppressedBy[cur.Suppressed.Reason] == 0 {
			delete(h.suppressedBy, cur.Suppressed.Reason)
		}
		return
	}
	delete(h.live, cur.Key)
	if !cur.Resolved {
		h.open--
	}
}

// member returns the incident member belongs to, or nil.
func (h *hookIncidents) member(m event.Key) *Incident {
	cur := h.byMember[m]
	if cur != nil && h.byKey[cur.Key] != cur {
		delete(h.byMember, m) // its incident was forgotten or replaced
		return nil
	}
	return cur
}

// Get returns a copy of Hook ref's incident k.
func (r *Registry) Get(ref hook.Ref, k Key) (Incident, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.hooks[ref]; h != nil {
		if cur := h.byKey[k]; cur != nil {
			return cur.clone(), true
		}
	}
	return Incident{}, false
}

// Of returns the key of the incident member belongs to in Hook ref.
func (r *Registry) Of(ref hook.Ref, member event.Key) (Key, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.hooks[ref]; h != nil {
		if cur := h.member(member); cur != nil {
			return cur.Key, true
		}
	}
	return Key{}, false
}

// Open counts Hook ref's incidents that are firing and not suppressed.
func (r *Registry) OpenCount(ref hook.Ref) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.hooks[ref]; h != nil {
		return h.open
	}
	return 0
}

// Restore loads a Hook's incidents read back after a restart (each with its members firing or
// not), unless the registry already holds incidents of the Hook: its own are newer. It reports
// whether it loaded anything.
func (r *Registry) Restore(ref hook.Ref, incidents []Incident, firing func(Incident, event.Key) bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.hooks[ref]; (h != nil && len(h.byKey) > 0) || len(incidents) == 0 {
		return false
	}
	h := r.of(ref)
	for _, in := range incidents {
		cur := in
		cur.Members = slices.Clone(in.Members)
		cur.firing = map[event.Key]bool{}
		if old := h.byKey[cur.Key]; old != nil {
			if !old.StartedAt.Before(cur.StartedAt) {
				continue // the newer of two investigations of one subject wins
			}
			h.forget(old)
		}
		for _, m := range cur.Members {
			h.byMember[m] = &cur
			if !cur.Resolved && firing(cur, m) {
				cur.firing[m] = true
			}
		}
		h.add(&cur)
	}
	return true
}

// Drop forgets every incident of Hook ref: the Hook is gone.
func (r *Registry) Drop(ref hook.Ref) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.hooks, ref)
}

// Live returns copies of Hook ref's incidents that are not suppressed, ordered by key, and how
// many suppressed ones it holds, by reason. It never walks the suppressed ones: a storm past the
// backlog leaves many.
func (r *Registry) Live(ref hook.Ref) (live []Incident, suppressedBy map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hooks[ref]
	if h == nil {
		return nil, nil
	}
	live = make([]Incident, 0, len(h.live))
	for _, cur := range h.live {
		live = append(live, cur.clone())
	}
	sort.Slice(live, func(i, j int) bool { return live[i].Key.String() < live[j].Key.String() })
	suppressedBy = make(map[string]int, len(h.suppressedBy))
	for reason, n := range h.suppressedBy {
		suppressedBy[reason] = n
	}
	return live, suppressedBy
}

// Unrecord marks Hook ref's incident k as counted only, not written (see Incident.Unrecorded).
func (r *Registry) Unrecord(ref hook.Ref, k Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.hooks[ref]; h != nil {
		if cur := h.byKey[k]; cur != nil {
			cur.Unrecorded = true
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
