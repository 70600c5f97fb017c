package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
	"github.com/khook-dev/khook/domain/matching"
	"github.com/khook-dev/khook/ports"
)

// backlogged says whether a new incident of Hook t must be suppressed for the backlog: the Hook
// has as many open investigations as it may, or one of its agents as many deliveries waiting.
// It is asked while the incident opens; open counts the Hook's open investigations.
func (p *Pipeline) backlogged(t matching.Target, open int) incident.Suppression {
	b := p.opts.Investigations
	if open >= b.MaxOpenPerHook {
		return incident.Suppression{Reason: incident.Backlog,
			Message: fmt.Sprintf("hook %s has %d investigations open, the most it may have", t.Hook, open)}
	}
	for _, a := range t.Agents {
		if n := p.delivery.QueueDepth(a); n >= b.MaxWaitingPerAgent {
			return incident.Suppression{Reason: incident.Backlog,
				Message: fmt.Sprintf("agent %s has %d deliveries waiting, the most it may have", a, n)}
		}
	}
	return incident.Suppression{}
}

// suppressed records incident inc of Hook ref (of UID uid), which starts no investigation:
// counted, and — as far as the Hook's allowance for such records goes — written as a suppressed
// investigation and one audit Event. A storm of held or backlogged trouble thus costs a bounded
// number of writes.
func (p *Pipeline) suppressed(ctx context.Context, ref hook.Ref, uid string, inc incident.Incident) {
	p.deps.Metrics.IncidentSuppressed(inc.Suppressed.Reason)
	p.markDirty(ref)
	if !p.mayRecord(ref) {
		p.incidents.Unrecord(ref, inc.Key)
		return
	}
	p.markInvestigation(ref, inc.Key)
	p.deps.Audit.Record(ctx, ref, ports.AuditRecord{Kind: ports.AuditSuppressed, Warning: true, Resource: subjectResource(inc.Key), HookUID: uid,
		Message: fmt.Sprintf("%s: no investigation started (%s): %s", inc.Key.Describe(), inc.Suppressed.Reason, inc.Suppressed.Message)})
}

// mayRecord takes one of Hook ref's allowance of suppressed investigations written as objects.
func (p *Pipeline) mayRecord(ref hook.Ref) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.records[ref]
	if b == nil {
		n := p.opts.Investigations.SuppressedPerMinute
		b = &bucket{capacity: float64(n), tokens: float64(n), perSecond: float64(n) / 60, at: p.deps.Clock.Now()}
		p.records[ref] = b
	}
	return b.take(p.deps.Clock.Now())
}

// bucket is a token bucket: up to capacity tokens, refilled at perSecond.
type bucket struct {
	capacity, tokens, perSecond float64
	at                          time.Time
}

func (b *bucket) take(now time.Time) bool {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(b.capacity, b.tokens+d.Seconds()*b.perSecond)
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
