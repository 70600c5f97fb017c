package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
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
	s := inc.Key.Subject
	c := volume.Candidate{Hook: h.Ref, EventType: inc.Key.Type, Subject: volume.Subject{Kind: s.Kind, Namespace: s.Namespace, Name: s.Name},
		Labels: inc.First.SelectorLabels(), Agents: h.AgentsFor(inc.Key.Type)}
	if len(inc.Members) > 0 {
		if e, ok := p.deps.Store.Get(h.Ref, inc.Members[0]); ok && !e.Partial {
			c.Labels = e.LastEvent.SelectorLabels()
		}
	}
	return c
}

// silence notes that Silence sil holds Hook ref's incident k: it is looked at again when a
// Silence changes, starts or ends, and sil counts it.
func (p *Pipeline) silence(ref hook.Ref, k incident.Key, sil volume.Silence) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.silenced[ref]
	if m == nil {
		m = map[incident.Key]bool{}
		p.silenced[ref] = m
	}
	m[k] = true
	p.held[silenceRef{sil.Namespace, sil.Name, sil.UID}]++
	p.signal()
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
	p.mu.Unlock()
}

// releaseSilenced looks again at the incidents Silences held, when a Silence changed or one
// starts or ends: each that still fires and no Silence holds any more starts (or a later check
// holds it back: a cooldown, a budget). Alertmanager's lesson: a Silence that ends emits
// nothing, so khook looks when it ends.
func (p *Pipeline) releaseSilenced(ctx context.Context) {
	if p.deps.Silences == nil {
		return
	}
	now := p.deps.Clock.Now()
	p.mu.Lock()
	if !p.silencesAt.IsZero() && now.Before(p.silencesAt) {
		p.mu.Unlock()
		return
	}
	type held struct {
		ref hook.Ref
		key incident.Key
	}
	var all []held
	for ref, m := range p.silenced {
		for k := range m {
			all = append(all, held{ref, k})
		}
	}
	next, ok := p.deps.Silences.NextChange(now)
	if !ok {
		next = now.Add(time.Hour) // no Silence starts or ends: only a change makes one
	}
	p.silencesAt = next
	p.mu.Unlock()
	sort.Slice(all, func(i, j int) bool {
		if all[i].ref != all[j].ref {
			return all[i].ref.String() < all[j].ref.String()
		}
		return all[i].key.String() < all[j].key.String()
	})
	for _, x := range all {
		h, found := p.deps.Index.Get(x.ref)
		inc, ok := p.incidents.Get(x.ref, x.key)
		if !found || !ok || inc.Resolved || inc.Suppressed.Reason != incident.Silenced {
			p.unsilence(x.ref, x.key)
			continue
		}
		if _, still := p.deps.Silences.Muting(p.candidate(h, inc), now); still {
			continue
		}
		p.unsilence(x.ref, x.key)
		if _, ok := p.incidents.Release(x.ref, x.key, incident.InvestigationName(h.Ref.Name, h.UID, x.key, inc.StartedAt)); !ok {
			continue
		}
		p.deps.Logger.Info("a silence no longer holds an incident that still fires: its investigation starts", "hook", h.Ref.String(), "incident", x.key.String())
		p.start(ctx, h, x.key)
		p.markInvestigation(h.Ref, x.key)
		p.markDirty(h.Ref)
	}
}

// resilence notes that a restored incident was held by a Silence: it is looked at again at the
// next RunDue, and starts if no Silence holds it any more.
func (p *Pipeline) resilence(ref hook.Ref, k incident.Key) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.silenced[ref]
	if m == nil {
		m = map[incident.Key]bool{}
		p.silenced[ref] = m
	}
	m[k] = true
	p.silencesAt = time.Time{}
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

// investigationEnded notes that Hook h's started investigation of incident inc ended at at: a
// new incident of its subject waits out the Hook's cooldown.
func (p *Pipeline) investigationEnded(h hook.Hook, inc incident.Incident, at time.Time) {
	if h.Limits.Cooldown <= 0 || !inc.Started || at.IsZero() {
		return
	}
	s := inc.Key.Subject
	p.cooldowns.Ended(h.Ref, volume.Subject{Kind: s.Kind, Namespace: s.Namespace, Name: s.Name}, at)
}
