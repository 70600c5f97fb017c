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
	// Reason is one word: backlog, silenced, rate-limited, cooldown or inhibited.
	Reason string
	// Message says by what, for people.
	Message string
}

// Reasons an incident starts no investigation.
const (
	// Backlog: the Hook already has as many open incidents as it may (or an agent as many
	// waiting deliveries): khook records the incident and starts no investigation.
	Backlog = "backlog"
	// Silenced: a Silence held it when its investigation would have started; it starts when
	// the Silence ends (or is deleted) while the incident still fires.
	Silenced = "silenced"
	// RateLimited: a budget (the Hook's, or one of its agents') had no investigation left.
	RateLimited = "rate-limited"
	// Cooldown: an investigation of the same subject by the same Hook ended less than the
	// Hook's cooldown ago.
	Cooldown = "cooldown"
	// Inhibited: every member that fired is a Pod on a Node that is not ready (or was not, a
	// moment ago): the Node's trouble explains it.
	Inhibited = "inhibited"
)

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
	// Started: its investigation was started (its agents are, or were, to be told). An incident
	// opens unstarted and gathers members for its Hook's group wait first.
	Started bool

	firing int // its members firing now (each member's state is in hookIncidents.byMember)
	// starting: Begin claimed it; Start or Suppress settles it.
	starting bool
}

// Open reports whether the incident is still firing.
func (in *Incident) Open() bool { return !in.Resolved }

// Firing counts its members firing now.
func (in *Incident) Firing() int { return in.firing }

// clone returns a copy the caller may keep.
func (in *Incident) clone() Incident {
	c := *in
	c.Members = slices.Clone(in.Members)
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
	byMember map[event.Key]member
	// live holds the incidents not suppressed: what a Hook's status walks, however many
	// suppressed ones a storm left.
	live         map[Key]*Incident
	open         int            // live incidents not resolved
	suppressedBy map[string]int // suppressed incidents held, by reason
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{hooks: map[hook.Ref]*hookIncidents{}} }

// member is what a Hook knows of one member: its incident, and whether it fires now. Kept per
// member rather than per incident, so that an incident of one member (most of them) costs no
// set of its own.
type member struct {
	incident *Incident
	firing   bool
}

func (r *Registry) of(ref hook.Ref) *hookIncidents {
	h := r.hooks[ref]
	if h == nil {
		h = &hookIncidents{byKey: map[Key]*Incident{}, byMember: map[event.Key]member{}, live: map[Key]*Incident{}, suppressedBy: map[string]int{}}
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

// Fire records that member m, whose latest occurrence is e, started firing at firstSeen as part of
// incident k of Hook ref. When k has no open incident, one is opened (replacing a resolved one of
// the same key, whose investigation is over), and opened is true; otherwise the member joins the
// open one. It returns a copy of the incident.
func (r *Registry) Fire(ref hook.Ref, k Key, m event.Key, e event.Event, firstSeen time.Time, how Opening) (inc Incident, opened bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.of(ref)
	cur := h.byKey[k]
	if cur == nil || cur.Resolved {
		if cur != nil {
			h.forget(cur)
		}
		cur = &Incident{Key: k, StartedAt: firstSeen, First: e, Partial: how.Partial}
		if how.Suppress != nil {
			cur.Suppressed = how.Suppress(h.open)
		}
		if how.Name != nil {
			cur.Name = how.Name(k, firstSeen)
		}
		h.add(cur)
		opened = true
	}
	was, known := h.member(m)
	if known && was.incident != cur && was.firing {
		was.incident.firing-- // it moved: another subject's incident now (its Hook changed its grouping)
	}
	if !known || was.incident != cur {
		if len(cur.Members) < MaxMembers {
			cur.Members = append(cur.Members, m)
		}
		cur.MemberCount++
	}
	if !known || was.incident != cur || !was.firing {
		cur.firing++
	}
	h.byMember[m] = member{incident: cur, firing: true}
	cur.LastSeen = maxTime(cur.LastSeen, firstSeen)
	return cur.clone(), opened
}

// Seen records a sighting of a firing member, key, at at (its incident's LastSeen).
func (r *Registry) Seen(ref hook.Ref, key event.Key, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.hooks[ref]; h != nil {
		if m, ok := h.member(key); ok {
			m.incident.LastSeen = maxTime(m.incident.LastSeen, at)
		}
	}
}

// Resolve records that member key stopped firing at at, for why. When it was the last member of
// its incident still firing, the incident resolves and closed is true. ok is false when the
// member belongs to no incident of the Hook.
func (r *Registry) Resolve(ref hook.Ref, key event.Key, why event.Resolution, at time.Time) (inc Incident, closed, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hooks[ref]
	if h == nil {
		return Incident{}, false, false
	}
	m, known := h.member(key)
	if !known {
		return Incident{}, false, false
	}
	cur := m.incident
	if m.firing {
		cur.firing--
		h.byMember[key] = member{incident: cur}
	}
	if cur.firing == 0 && !cur.Resolved {
		cur.Resolved, cur.ResolvedAt, cur.Resolution = true, at, why
		if cur.Suppressed.Reason == "" && h.live[cur.Key] == cur {
			h.open--
		}
		closed = true
	}
	return cur.clone(), closed, true
}

// Forget drops member key from its incident: its dedup entry was forgotten. When the incident
// is resolved and no member of it is left, the incident is forgotten too, and gone is true.
func (r *Registry) Forget(ref hook.Ref, key event.Key) (k Key, gone bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hooks[ref]
	if h == nil {
		return Key{}, false
	}
	m, known := h.member(key)
	if !known {
		return Key{}, false
	}
	cur := m.incident
	delete(h.byMember, key)
	if m.firing {
		cur.firing--
	}
	if !cur.Resolved {
		return cur.Key, false
	}
	for _, named := range cur.Members {
		if h.byMember[named].incident == cur {
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
		if h.byMember[m].incident == cur {
			delete(h.byMember, m)
		}
	}
	if cur.Suppressed.Reason != "" {
		h.uncount(cur.Suppressed.Reason)
		return
	}
	delete(h.live, cur.Key)
	if !cur.Resolved {
		h.open--
	}
}

// uncount takes one incident off the suppressed ones counted for reason.
func (h *hookIncidents) uncount(reason string) {
	if h.suppressedBy[reason]--; h.suppressedBy[reason] <= 0 {
		delete(h.suppressedBy, reason)
	}
}

// member returns what h knows of member key, if its incident is still held.
func (h *hookIncidents) member(key event.Key) (member, bool) {
	m, ok := h.byMember[key]
	if !ok {
		return member{}, false
	}
	if h.byKey[m.incident.Key] != m.incident {
		delete(h.byMember, key) // its incident was forgotten or replaced
		return member{}, false
	}
	return m, true
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

// Of returns the key of the incident member key belongs to in Hook ref.
func (r *Registry) Of(ref hook.Ref, key event.Key) (Key, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.hooks[ref]; h != nil {
		if m, ok := h.member(key); ok {
			return m.incident.Key, true
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
		cur.firing = 0
		if old := h.byKey[cur.Key]; old != nil {
			if !old.StartedAt.Before(cur.StartedAt) {
				continue // the newer of two investigations of one subject wins
			}
			h.forget(old)
		}
		for _, m := range cur.Members {
			fires := !cur.Resolved && firing(cur, m)
			h.byMember[m] = member{incident: &cur, firing: fires}
			if fires {
				cur.firing++
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

// Begin claims Hook ref's incident k for its start, if it may start: it is not started,
// suppressed, resolved, or claimed already. Of callers racing to start one incident, one gets
// it; the checks that may hold it back run once. It returns a copy. Start or Suppress settles
// the claim.
func (r *Registry) Begin(ref hook.Ref, k Key) (Incident, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hooks[ref]
	if h == nil {
		return Incident{}, false
	}
	cur := h.byKey[k]
	if cur == nil || cur.Started || cur.starting || cur.Suppressed.Reason != "" || cur.Resolved {
		return Incident{}, false
	}
	cur.starting = true
	return cur.clone(), true
}

// Start marks Hook ref's incident k as started: its agents are to be told.
func (r *Registry) Start(ref hook.Ref, k Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.hooks[ref]; h != nil {
		if cur := h.byKey[k]; cur != nil {
			cur.Started, cur.starting = true, false
		}
	}
}

// Suppress records that Hook ref's incident k, not started yet, starts no investigation, for s:
// it is counted with the suppressed ones from now on. It returns a copy of the incident, and
// false when there is no such incident, or it is started or suppressed already.
func (r *Registry) Suppress(ref hook.Ref, k Key, s Suppression) (Incident, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hooks[ref]
	if h == nil {
		return Incident{}, false
	}
	cur := h.byKey[k]
	if cur == nil || cur.Started || cur.Suppressed.Reason != "" {
		return Incident{}, false
	}
	delete(h.live, k)
	if !cur.Resolved {
		h.open--
	}
	cur.Suppressed, cur.starting = s, false
	h.suppressedBy[s.Reason]++
	return cur.clone(), true
}

// Release lets Hook ref's incident k, suppressed for a reason that may pass (a Silence that
// ended), start after all: it is live again, unsuppressed and recorded, under name (its
// investigation's, which an unrecorded incident forgot). It returns a copy, and false when
// there is no such incident, or it is not suppressed, or it has resolved.
func (r *Registry) Release(ref hook.Ref, k Key, name string) (Incident, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hooks[ref]
	if h == nil {
		return Incident{}, false
	}
	cur := h.byKey[k]
	if cur == nil || cur.Suppressed.Reason == "" || cur.Resolved {
		return Incident{}, false
	}
	h.uncount(cur.Suppressed.Reason)
	if cur.Unrecorded { // it forgot its first event: a prompt waits for a member's
		cur.Partial = true
	}
	cur.Suppressed, cur.Unrecorded = Suppression{}, false
	if cur.Name == "" {
		cur.Name = name
	}
	h.live[k] = cur
	h.open++
	return cur.clone(), true
}

// Resuppress changes why Hook ref's suppressed incident k starts no investigation, to s (a
// Silence that let it go found the Hook's backlog full). It returns a copy, and false when it is
// not suppressed.
func (r *Registry) Resuppress(ref hook.Ref, k Key, s Suppression) (Incident, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hooks[ref]
	if h == nil {
		return Incident{}, false
	}
	cur := h.byKey[k]
	if cur == nil || cur.Suppressed.Reason == "" {
		return Incident{}, false
	}
	h.uncount(cur.Suppressed.Reason)
	cur.Suppressed = s
	h.suppressedBy[s.Reason]++
	return cur.clone(), true
}

// Note lists member key on Hook ref's incident k as one of its members, without making it one:
// it fires, resolves and is counted with its own incident. An incident of a Node that is not
// ready notes the Pods on it whose trouble it inhibits.
func (r *Registry) Note(ref hook.Ref, k Key, key event.Key) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hooks[ref]
	if h == nil {
		return false
	}
	cur := h.byKey[k]
	if cur == nil || slices.Contains(cur.Members, key) {
		return false
	}
	if len(cur.Members) < MaxMembers {
		cur.Members = append(cur.Members, key)
	}
	cur.MemberCount++
	return true
}

// Unrecord marks Hook ref's incident k as counted only, not written (see Incident.Unrecorded).
// What only its written record would show — its first occurrence, its investigation's name, the
// words of its suppression — is dropped: a storm past the backlog leaves many such incidents.
func (r *Registry) Unrecord(ref hook.Ref, k Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.hooks[ref]; h != nil {
		if cur := h.byKey[k]; cur != nil {
			cur.Unrecorded = true
			cur.First, cur.Name, cur.Suppressed.Message = event.Event{}, "", ""
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
