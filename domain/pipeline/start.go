package pipeline

import (
	"context"
	"sort"
	"time"

	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
)

// An incident opens when its first member fires, then gathers the members that fire with it for
// its Hook's group wait; only then does its investigation start — or a check holds it back (the
// Node it runs on is not ready, a Silence, a cooldown, a budget: see heldBack), and it is
// recorded as suppressed instead. Members that fire later join it and start nothing new.

// gather makes Hook ref's incident k wait until due before it starts.
func (p *Pipeline) gather(ref hook.Ref, k incident.Key, due time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.gathering[ref]
	if m == nil {
		m = map[incident.Key]time.Time{}
		p.gathering[ref] = m
	}
	m[k] = due
}

// gatheringNow reports whether Hook ref's incident k still gathers members.
func (p *Pipeline) gatheringNow(ref hook.Ref, k incident.Key) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.gathering[ref][k]
	return ok
}

// startDue starts the incidents whose group wait is over.
func (p *Pipeline) startDue(ctx context.Context) {
	now := p.deps.Clock.Now()
	type due struct {
		ref hook.Ref
		key incident.Key
	}
	var ready []due
	p.mu.Lock()
	for ref, m := range p.gathering {
		for k, at := range m {
			if !at.After(now) {
				ready = append(ready, due{ref, k})
				delete(m, k)
			}
		}
		if len(m) == 0 {
			delete(p.gathering, ref)
		}
	}
	p.mu.Unlock()
	sort.Slice(ready, func(i, j int) bool { // in a stable order
		if ready[i].ref != ready[j].ref {
			return ready[i].ref.String() < ready[j].ref.String()
		}
		return ready[i].key.String() < ready[j].key.String()
	})
	for _, d := range ready {
		if h, ok := p.deps.Index.Get(d.ref); ok {
			p.start(ctx, h, d.key)
		}
	}
}

// start starts Hook h's incident k, done gathering: unless a check holds it back, the agents h
// names for its type are told. An incident that resolved while it gathered starts nothing: its
// trouble was over before anyone would have looked.
func (p *Pipeline) start(ctx context.Context, h hook.Hook, k incident.Key) {
	inc, ok := p.incidents.Begin(h.Ref, k) // one caller starts it, whoever races
	if !ok {
		return
	}
	if s, sil := p.heldBack(h, inc); s.Reason != "" {
		if inc, ok := p.incidents.Suppress(h.Ref, k, s); ok {
			if sil != nil {
				p.silence(h.Ref, k, *sil)
			}
			p.deps.Logger.Info("incident suppressed", "hook", h.Ref.String(), "incident", k.String(), "reason", s.Reason, "why", s.Message)
			p.noteInhibited(h, inc)
			p.suppressed(ctx, h.Ref, h.UID, inc) // its investigation says now why nothing was sent
		}
		return
	}
	p.incidents.Start(h.Ref, k)
	p.markInvestigation(h.Ref, k)
	p.delivery.Ensure(delivery.Firing{Hook: h.Ref, HookUID: h.UID, Key: k, FirstSeen: inc.StartedAt, Resource: subjectResource(k)}, false)
}
