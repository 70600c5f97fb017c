package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
	"github.com/khook-dev/khook/domain/investigation"
	"github.com/khook-dev/khook/domain/status"
	"github.com/khook-dev/khook/ports"
)

// FlushStatus writes what changed since the last flush: each investigation whose incident or
// records changed (each its own object), then the status of each Hook whose state changed. With
// full, it also writes the Hooks whose events were merely seen again (their lastSeen and
// occurrences). A Hook whose write fails stays marked and Changed is signalled; it is tried
// again after a backoff of its own (StatusRetryInitial doubling up to StatusRetryMax;
// NextStatusWrite says when), so that one Hook whose writes fail slows no other Hook's.
func (p *Pipeline) FlushStatus(ctx context.Context, full bool) error {
	now := p.deps.Clock.Now()
	p.mu.Lock()
	pending, dirty := p.pending, p.dirty
	p.pending, p.dirty = map[hook.Ref]map[incident.Key]bool{}, map[hook.Ref]bool{}
	p.mu.Unlock()
	if full {
		for _, ref := range p.deps.Store.Seen() {
			dirty[ref] = true
		}
	}
	var errs []error
	failed := map[hook.Ref]bool{}
	for _, ref := range sortedRefs(pending) {
		if p.waiting(ref, now) {
			p.requeue(ref, pending[ref])
			continue
		}
		if err := p.writeInvestigations(ctx, ref, pending[ref]); err != nil {
			errs = append(errs, err)
			failed[ref] = true
			dirty[ref] = true // its status is written when its investigations are
		}
	}
	for _, ref := range sortedRefs(dirty) {
		if p.waiting(ref, now) {
			p.markDirtyQuietly(ref)
			continue
		}
		if err := p.flush(ctx, ref); err != nil {
			errs = append(errs, err)
			failed[ref] = true
		}
	}
	p.mu.Lock()
	for ref := range pending {
		if !failed[ref] && !p.waitingLocked(ref, now) {
			delete(p.backoff, ref) // all it had to write is written
		}
	}
	for ref := range dirty {
		if !failed[ref] && !p.waitingLocked(ref, now) {
			delete(p.backoff, ref)
		}
	}
	p.mu.Unlock()
	if err := p.countHeld(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// waiting reports whether ref's writes back off until after now.
func (p *Pipeline) waiting(ref hook.Ref, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitingLocked(ref, now)
}

func (p *Pipeline) waitingLocked(ref hook.Ref, now time.Time) bool {
	wait, backingOff := p.backoff[ref]
	return backingOff && now.Before(wait.until)
}

// requeue marks keys of ref to be written again, without signalling (their turn is timed).
func (p *Pipeline) requeue(ref hook.Ref, keys map[incident.Key]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.pending[ref]
	if m == nil {
		m = map[incident.Key]bool{}
		p.pending[ref] = m
	}
	for k := range keys {
		m[k] = true
	}
}

func (p *Pipeline) markDirtyQuietly(ref hook.Ref) {
	p.mu.Lock()
	p.dirty[ref] = true
	p.mu.Unlock()
}

// writeInvestigations writes the investigations of ref's incidents keys; at the first write
// that fails the rest wait for the Hook's next turn.
func (p *Pipeline) writeInvestigations(ctx context.Context, ref hook.Ref, keys map[incident.Key]bool) error {
	h, ok := p.deps.Index.Get(ref)
	if !ok {
		return nil // deleted: nothing to write to
	}
	ordered := make([]incident.Key, 0, len(keys))
	for k := range keys {
		ordered = append(ordered, k)
	}
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].String() < ordered[j].String() })
	for i, k := range ordered {
		if err := p.writeInvestigation(ctx, h, k); err != nil {
			rest := map[incident.Key]bool{}
			for _, left := range ordered[i:] {
				rest[left] = true
			}
			p.requeue(ref, rest)
			p.signal()
			return err
		}
	}
	return nil
}

// NextStatusWrite returns when the earliest Hook whose writes failed may be written again, if one
// waits: the caller flushes then.
func (p *Pipeline) NextStatusWrite() (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var next time.Time
	for ref, wait := range p.backoff {
		if (p.dirty[ref] || len(p.pending[ref]) > 0) && (next.IsZero() || wait.until.Before(next)) {
			next = wait.until
		}
	}
	return next, !next.IsZero()
}

// writeFailed backs ref's writes off after a failure and returns when it is tried again.
func (p *Pipeline) writeFailed(ref hook.Ref) time.Time {
	initial, most := p.opts.StatusRetryInitial, p.opts.StatusRetryMax
	if initial <= 0 {
		initial = DefaultStatusRetryInitial
	}
	if most <= 0 {
		most = DefaultStatusRetryMax
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	wait := p.backoff[ref]
	wait.failures++
	d := initial
	for i := 1; i < wait.failures && d < most; i++ {
		d *= 2
	}
	wait.until = p.deps.Clock.Now().Add(min(d, most))
	p.backoff[ref] = wait
	return wait.until
}

// forgetBackoffs lets every Hook's writes go at once (the final write at shutdown).
func (p *Pipeline) forgetBackoffs() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.backoff)
}

// Defaults of the per-Hook write backoff.
const (
	DefaultStatusRetryInitial = time.Second
	DefaultStatusRetryMax     = time.Minute
)

// writeBackoff is how a Hook whose writes fail waits before the next one.
type writeBackoff struct {
	failures int
	until    time.Time
}

// flush writes ref's status: a summary of its events and investigations, and its Delivering
// condition.
func (p *Pipeline) flush(ctx context.Context, ref hook.Ref) error {
	h, ok := p.deps.Index.Get(ref)
	if !ok {
		return nil // deleted: nothing to write to
	}
	limits := p.opts.StatusLimits.WithDefaults()
	top, firing, total := p.deps.Store.Top(ref, limits.MaxEvents)
	records := p.delivery.Records(ref)
	byKey := map[incident.Key][]delivery.Record{}
	for _, r := range records {
		byKey[r.Key] = append(byKey[r.Key], r)
	}
	live, suppressedBy := p.incidents.Live(ref)
	counts := ports.InvestigationCounts{SuppressedBy: suppressedBy}
	for _, inc := range live {
		tally(&counts, investigation.PhaseOf(inc, byKey[inc.Key]))
	}
	for _, n := range suppressedBy {
		counts.Suppressed += n
	}
	p.report(ref, counts)
	notified := func(k event.Key) status.Notified {
		ikey, ok := p.incidents.Of(ref, k)
		if !ok {
			return status.Notified{}
		}
		inc, _ := p.incidents.Get(ref, ikey)
		n := status.Notified{Investigation: inc.Name}
		if inc.Unrecorded {
			n.Investigation = ""
		}
		all := len(byKey[ikey]) > 0
		for _, r := range byKey[ikey] {
			if sent := r.SentAt; sent.After(n.LastNotifiedAt) && r.State.Accepted() {
				n.LastNotifiedAt = sent
			}
			if !r.State.Accepted() {
				all = false
			}
		}
		if all {
			n.NotifiedAt = n.LastNotifiedAt
		}
		return n
	}
	activity := status.Summary(top, notified, firing, total, counts, limits)
	activity.HookUID = h.UID
	if err := p.deps.Status.WriteActivity(ctx, ref, activity); err != nil {
		p.writeFailed(ref)
		p.markDirty(ref)
		return fmt.Errorf("writing status of hook %s: %w", ref, err)
	}
	cond := status.Delivering(records)
	p.mu.Lock()
	same := p.written[ref] == cond
	p.mu.Unlock()
	if same {
		return nil
	}
	if err := p.deps.Status.WriteConditions(ctx, ref, h.Generation, []ports.Condition{cond}); err != nil {
		p.markDirty(ref)
		return fmt.Errorf("writing the %s condition of hook %s: %w", cond.Type, ref, err)
	}
	p.mu.Lock()
	p.written[ref] = cond
	p.mu.Unlock()
	return nil
}

// Changed is signalled (without blocking, coalesced) whenever some Hook's state changed.
func (p *Pipeline) Changed() <-chan struct{} { return p.changed }

func (p *Pipeline) markDirty(ref hook.Ref) {
	p.mu.Lock()
	p.dirty[ref] = true
	p.mu.Unlock()
	p.signal()
}

// markInvestigation marks the investigation of ref's incident key to be written soon, and the
// Hook's status with it.
func (p *Pipeline) markInvestigation(ref hook.Ref, key incident.Key) {
	p.mu.Lock()
	m := p.pending[ref]
	if m == nil {
		m = map[incident.Key]bool{}
		p.pending[ref] = m
	}
	m[key] = true
	p.dirty[ref] = true
	p.mu.Unlock()
	p.signal()
}

func (p *Pipeline) signal() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// report keeps ref's counts and reports the totals over every Hook to the metrics.
func (p *Pipeline) report(ref hook.Ref, c ports.InvestigationCounts) {
	p.mu.Lock()
	old := p.counts[ref]
	p.counts[ref] = c
	p.total = addCounts(subCounts(p.total, old), c)
	total := p.total
	p.mu.Unlock()
	p.deps.Metrics.Investigations(total)
}

func addCounts(a, b ports.InvestigationCounts) ports.InvestigationCounts {
	return ports.InvestigationCounts{Pending: a.Pending + b.Pending, Working: a.Working + b.Working, Completed: a.Completed + b.Completed,
		Failed: a.Failed + b.Failed, InputRequired: a.InputRequired + b.InputRequired, Lost: a.Lost + b.Lost, Resolved: a.Resolved + b.Resolved,
		Suppressed: a.Suppressed + b.Suppressed}
}

func subCounts(a, b ports.InvestigationCounts) ports.InvestigationCounts {
	return addCounts(a, ports.InvestigationCounts{Pending: -b.Pending, Working: -b.Working, Completed: -b.Completed, Failed: -b.Failed,
		InputRequired: -b.InputRequired, Lost: -b.Lost, Resolved: -b.Resolved, Suppressed: -b.Suppressed})
}

// tally counts one investigation of phase into c.
func tally(c *ports.InvestigationCounts, phase investigation.Phase) {
	switch phase {
	case investigation.Pending:
		c.Pending++
	case investigation.Working:
		c.Working++
	case investigation.Completed:
		c.Completed++
	case investigation.Failed:
		c.Failed++
	case investigation.InputRequired:
		c.InputRequired++
	case investigation.Lost:
		c.Lost++
	case investigation.Resolved:
		c.Resolved++
	case investigation.Suppressed:
		c.Suppressed++
	}
}

func sortedRefs[V any](m map[hook.Ref]V) []hook.Ref {
	refs := make([]hook.Ref, 0, len(m))
	for ref := range m {
		refs = append(refs, ref)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	return refs
}
