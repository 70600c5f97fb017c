package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
	"github.com/khook-dev/khook/domain/matching"
	"github.com/khook-dev/khook/domain/volume"
)

// When an incident's investigation would start, the volume controls are asked after the
// inhibition, in this order: a Silence that holds it (it starts when the Silence ends, if it
// still fires), a cooldown of its subject (the Hook's spec.limits.cooldown), and the budgets (the
// Hook's spec.limits.maxInvestigationsPerHour and every agent's, Volume); a budget's token is
// taken only by an investigation that starts. None of this is on the path of a repeat.

// Volume tunes the controller-wide volume controls.
type Volume struct {
	// MaxInvestigationsPerAgentPerHour is every agent's budget: a token bucket of this many
	// investigations an hour; 0 means none.
	MaxInvestigationsPerAgentPerHour int
	// MaxCooldownEntries bounds the ended investigations remembered for cooldowns; 0 means
	// volume.DefaultMaxCooldownEntries.
	MaxCooldownEntries int
}

// MaxInvestigationsPerAgentPerHour is the largest agent budget Volume accepts.
const MaxInvestigationsPerAgentPerHour = 100_000

// Validate says which field of v is out of bounds.
func (v Volume) Validate() error {
	if v.MaxInvestigationsPerAgentPerHour < 0 || v.MaxInvestigationsPerAgentPerHour > MaxInvestigationsPerAgentPerHour {
		return fmt.Errorf("MaxInvestigationsPerAgentPerHour: %d is not between 0 and %d", v.MaxInvestigationsPerAgentPerHour, MaxInvestigationsPerAgentPerHour)
	}
	if v.MaxCooldownEntries < 0 {
		return fmt.Errorf("MaxCooldownEntries: %d is negative", v.MaxCooldownEntries)
	}
	return nil
}

// silenceRef names one Silence as it was when it held an incident.
type silenceRef struct{ namespace, name, uid string }

// heldBack says why incident inc of Hook h must start no investigation, if a check says so, and
// the Silence that holds it when that is why.
func (p *Pipeline) heldBack(h hook.Hook, inc incident.Incident) (incident.Suppression, *volume.Silence) {
	if s := p.inhibited(h, inc); s.Reason != "" {
		return s, nil
	}
	c := p.candidate(h, inc)
	now := p.deps.Clock.Now()
	if p.deps.Silences != nil {
		if sil, ok := p.deps.Silences.Muting(c, now); ok {
			return incident.Suppression{Reason: incident.Silenced,
				Message: fmt.Sprintf("silence %s holds it until %s", sil, sil.EndsAt.UTC().Format(time.RFC3339))}, &sil
		}
	}
	if cd := h.Limits.Cooldown; cd > 0 {
		if p.delivery.UnderWay(h.Ref, inc.Key) { // the subject's last investigation has not even ended
			return incident.Suppression{Reason: incident.Cooldown, Message: fmt.Sprintf(
				"an investigation of %s is still under way; the Hook's cooldown (%s) counts from its end", c.Subject, cd)}, nil
		}
		if ok, until := p.cooldowns.Allows(h.Ref, c.Subject, cd, now); !ok {
			return incident.Suppression{Reason: incident.Cooldown, Message: fmt.Sprintf(
				"an investigation of %s ended less than %s (the Hook's cooldown) ago; another may start from %s", c.Subject, cd, until.UTC().Format(time.RFC3339))}, nil
		}
	}
	if ok, exhausted := p.budgets.Take(c, h.Limits.MaxInvestigationsPerHour, now); !ok {
		return incident.Suppression{Reason: incident.RateLimited, Message: "the budget of " + exhausted + " is spent"}, nil
	}
	return incident.Suppression{}, nil
}

// candidate is incident inc of Hook h as the volume controls see it: its subject, its first
// member's labels, and the agents h would tell.
func (p *Pipeline) candidate(h hook.Hook, inc incident.Incident) volume.Candidate {
	return candidateOf(h, inc, p.candidateLabels(h.Ref, inc))
}

func candidateOf(h hook.Hook, inc incident.Incident, labels map[string]string) volume.Candidate {
	s := inc.Key.Subject
	return volume.Candidate{Hook: h.Ref, EventType: inc.Key.Type, Subject: volume.Subject{Kind: s.Kind, Namespace: s.Namespace, Name: s.Name},
		Labels: labels, Agents: h.AgentsFor(inc.Key.Type)}
}

// seenSince returns the labels of a member of inc that fires and was seen (with its event) at
// or after since: what says the trouble still holds, and what a Silence's selector is asked
// about. An incident read back after a restart has no labels and may be over: it waits for its
// trouble to be seen again.
func (p *Pipeline) seenSince(ref hook.Ref, inc incident.Incident, since time.Time) (map[string]string, bool) {
	if since.IsZero() { // held by this process: its first event has its labels
		return p.candidateLabels(ref, inc), true
	}
	for _, m := range inc.Members {
		if e, ok := p.deps.Store.Get(ref, m); ok && e.State == dedup.Firing && !e.Partial && !e.LastSeen.Before(since) {
			return e.LastEvent.SelectorLabels(), true
		}
	}
	return nil, false
}

// candidateLabels are the labels of inc's first member as last seen, or of the event that opened
// it.
func (p *Pipeline) candidateLabels(ref hook.Ref, inc incident.Incident) map[string]string {
	if len(inc.Members) > 0 {
		if e, ok := p.deps.Store.Get(ref, inc.Members[0]); ok && !e.Partial {
			return e.LastEvent.SelectorLabels()
		}
	}
	return inc.First.SelectorLabels()
}

// silence notes that Silence sil holds Hook ref's incident k: it is looked at again when a
// Silence changes, starts or ends, and sil counts it.
func (p *Pipeline) silence(ref hook.Ref, k incident.Key, sil volume.Silence) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.silenced[ref]
	if m == nil {
		m = map[incident.Key]time.Time{}
		p.silenced[ref] = m
	}
	m[k] = time.Time{}
	if p.deps.SilenceCounter != nil {
		p.held[silenceRef{sil.Namespace, sil.Name, sil.UID}]++
		p.signal()
	}
}

// UpsertSilence adds or replaces a Silence (see volume.Silences.Upsert); the incidents held by
// Silences are looked at again at the next RunDue: one the change lets go starts then.
func (p *Pipeline) UpsertSilence(sil volume.Silence) error {
	if p.deps.Silences == nil {
		return errors.New("the pipeline has no Silences")
	}
	if err := p.deps.Silences.Upsert(sil); err != nil {
		return err
	}
	p.silencesChanged()
	return nil
}

// RemoveSilence drops a Silence; the incidents it held start at the next RunDue, if they still
// fire and nothing else holds them.
func (p *Pipeline) RemoveSilence(namespace, name string) {
	if p.deps.Silences == nil {
		return
	}
	p.deps.Silences.Remove(namespace, name)
	p.silencesChanged()
}

func (p *Pipeline) silencesChanged() {
	p.mu.Lock()
	p.silencesAt = time.Time{} // at once
	p.silencesGen++
	p.mu.Unlock()
}

// releaseSilenced looks again at the incidents Silences held, when a Silence changed or one
// starts or ends: each that still fires and no Silence holds any more starts (or a later check
// holds it back: a cooldown, a budget), unless its Hook's backlog is full, when it is recorded as
// backlog instead. Alertmanager's lesson: a Silence that ends emits nothing, so khook looks when
// it ends. An incident read back after a restart waits until its trouble is seen again.
func (p *Pipeline) releaseSilenced(ctx context.Context) {
	if p.deps.Silences == nil {
		return
	}
	now := p.deps.Clock.Now()
	p.mu.Lock()
	due := p.silencesAt.IsZero() || !now.Before(p.silencesAt)
	gen := p.silencesGen
	p.mu.Unlock()
	if !due {
		return
	}
	next, ok := p.deps.Silences.NextChange(now)
	if !ok {
		next = now.Add(time.Hour) // no Silence starts or ends: only a change looks again sooner
	}
	type held struct {
		ref   hook.Ref
		key   incident.Key
		since time.Time
	}
	var all []held
	p.mu.Lock()
	if p.silencesGen == gen { // else a Silence changed since NextChange: look again at the next RunDue
		p.silencesAt = next
	}
	for ref, m := range p.silenced {
		for k, since := range m {
			all = append(all, held{ref, k, since})
		}
	}
	p.mu.Unlock()
	sort.Slice(all, func(i, j int) bool {
		if all[i].ref != all[j].ref {
			return all[i].ref.String() < all[j].ref.String()
		}
		return all[i].key.String() < all[j].key.String()
	})
	waiting := false
	for _, x := range all {
		inc, ok := p.incidents.Get(x.ref, x.key)
		if !ok || inc.Resolved || inc.Suppressed.Reason != incident.Silenced {
			p.unsilence(x.ref, x.key)
			continue
		}
		h, found := p.deps.Index.Get(x.ref)
		if !found {
			waiting = true // not loaded yet (or being removed: RemoveHook forgets it)
			continue
		}
		labels, seen := p.seenSince(x.ref, inc, x.since)
		if !seen {
			waiting = true // read back after a restart: held until its trouble is seen again
			continue
		}
		if _, still := p.deps.Silences.Muting(candidateOf(h, inc, labels), now); still {
			continue
		}
		p.unsilence(x.ref, x.key)
		t := matching.Target{Hook: h.Ref, UID: h.UID, Agents: h.AgentsFor(x.key.Type)}
		if s := p.backlogged(t, p.incidents.OpenCount(h.Ref)); s.Reason != "" {
			if inc, ok := p.incidents.Resuppress(h.Ref, x.key, s); ok {
				p.deps.Logger.Info("a silence no longer holds an incident, but its Hook's backlog is full", "hook", h.Ref.String(), "incident", x.key.String(), "why", s.Message)
				p.suppressed(ctx, h.Ref, h.UID, inc)
			}
			continue
		}
		if _, ok := p.incidents.Release(x.ref, x.key, incident.InvestigationName(h.Ref.Name, h.UID, x.key, inc.StartedAt)); !ok {
			continue
		}
		p.deps.Logger.Info("a silence no longer holds an incident that still fires: its investigation starts", "hook", h.Ref.String(), "incident", x.key.String())
		p.start(ctx, h, x.key)
		p.markInvestigation(h.Ref, x.key)
		p.markDirty(h.Ref)
	}
	if waiting { // look again soon: a sighting, or its Hook loaded, is what lets them go
		p.mu.Lock()
		if at := now.Add(silenceRecheck); !p.silencesAt.IsZero() && at.Before(p.silencesAt) {
			p.silencesAt = at
		}
		p.mu.Unlock()
	}
}

// silenceRecheck is how soon incidents read back as silenced, not seen again yet, are looked at
// again.
const silenceRecheck = 10 * time.Second

// resilence notes that a restored incident was held by a Silence: it is looked at again at the
// next RunDue, and starts if no Silence holds it any more.
func (p *Pipeline) resilence(ref hook.Ref, k incident.Key) {
	now := p.deps.Clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.silenced[ref]
	if m == nil {
		m = map[incident.Key]time.Time{}
		p.silenced[ref] = m
	}
	m[k] = now // released only once its trouble is seen again from now on
	p.silencesAt = time.Time{}
	p.silencesGen++
}

func (p *Pipeline) unsilence(ref hook.Ref, k incident.Key) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m := p.silenced[ref]; m != nil {
		delete(m, k)
		if len(m) == 0 {
			delete(p.silenced, ref)
		}
	}
}

// countHeld adds to each Silence's status the incidents it held since the last count; a count
// that fails is tried again at the next flush.
func (p *Pipeline) countHeld(ctx context.Context) error {
	if p.deps.SilenceCounter == nil {
		return nil
	}
	p.mu.Lock()
	held := p.held
	p.held = map[silenceRef]int64{}
	p.mu.Unlock()
	var errs []error
	for s, n := range held {
		if err := p.deps.SilenceCounter.AddHeldIncidents(ctx, s.namespace, s.name, s.uid, n); err != nil {
			p.mu.Lock()
			p.held[s] += n
			p.mu.Unlock()
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// spentBefore takes from the budgets what the investigations of h that started within the last
// hour, read back after a restart, took from them: a restart or a new leader does not refill them.
func (p *Pipeline) spentBefore(h hook.Hook, incidents []incident.Incident) {
	now := p.deps.Clock.Now()
	started := make([]incident.Incident, 0, len(incidents))
	for _, inc := range incidents {
		if inc.Started && now.Sub(inc.StartedAt) < time.Hour {
			started = append(started, inc)
		}
	}
	sort.Slice(started, func(i, j int) bool { return started[i].StartedAt.Before(started[j].StartedAt) })
	for _, inc := range started {
		p.budgets.Spent(candidateOf(h, inc, nil), h.Limits.MaxInvestigationsPerHour, inc.StartedAt, now)
	}
}

// investigationEnded notes that Hook h's started investigation of incident inc, with records,
// ended at at: a new incident of its subject waits out the Hook's cooldown. An investigation no
// agent took up (its sends failed, or the trouble ended first) investigated nothing, and starts
// no cooldown.
func (p *Pipeline) investigationEnded(h hook.Hook, inc incident.Incident, records []delivery.Record, at time.Time) {
	if h.Limits.Cooldown <= 0 || !inc.Started || at.IsZero() {
		return
	}
	if !slices.ContainsFunc(records, func(r delivery.Record) bool { return r.State.Accepted() }) {
		return
	}
	s := inc.Key.Subject
	p.cooldowns.Ended(h.Ref, volume.Subject{Kind: s.Kind, Namespace: s.Namespace, Name: s.Name}, at)
}
