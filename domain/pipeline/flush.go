package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/status"
	"github.com/khook-dev/khook/ports"
)

// FlushStatus writes the status of every Hook whose state changed since the last flush. With
// full, it also writes the Hooks whose events were merely seen again (their lastSeen and
// occurrences), and those whose last write was refused as too large. A Hook whose write fails
// stays marked and Changed is signalled; it is tried again after a backoff of its own
// (StatusRetryInitial doubling up to StatusRetryMax; NextStatusWrite says when), so that one
// Hook whose writes fail slows no other Hook's. One refused as too large waits for the next full
// flush, with half as many entries.
func (p *Pipeline) FlushStatus(ctx context.Context, full bool) error {
	now := p.deps.Clock.Now()
	p.mu.Lock()
	set := p.dirty
	p.dirty = map[hook.Ref]bool{}
	if full {
		for ref := range p.deferred {
			set[ref] = true
		}
		p.deferred = map[hook.Ref]bool{}
	}
	p.mu.Unlock()
	if full {
		for _, ref := range p.deps.Store.Seen() {
			set[ref] = true
		}
	}
	refs := make([]hook.Ref, 0, len(set))
	for ref := range set {
		refs = append(refs, ref)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	var errs []error
	for _, ref := range refs {
		p.mu.Lock()
		wait, backingOff := p.backoff[ref]
		if backingOff && now.Before(wait.until) {
			p.dirty[ref] = true // its turn comes at wait.until
			p.mu.Unlock()
			continue
		}
		p.mu.Unlock()
		if err := p.flush(ctx, ref, full); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// NextStatusWrite returns when the earliest Hook whose writes failed may be written again, if one
// waits: the caller flushes then.
func (p *Pipeline) NextStatusWrite() (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var next time.Time
	for ref, wait := range p.backoff {
		if p.dirty[ref] && (next.IsZero() || wait.until.Before(next)) {
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

// Defaults of the per-Hook status write backoff.
const (
	DefaultStatusRetryInitial = time.Second
	DefaultStatusRetryMax     = time.Minute
)

// writeBackoff is how a Hook whose status writes fail waits before the next one.
type writeBackoff struct {
	failures int
	until    time.Time
}

func (p *Pipeline) flush(ctx context.Context, ref hook.Ref, full bool) error {
	h, ok := p.deps.Index.Get(ref)
	if !ok {
		return nil // deleted: nothing to write to
	}
	p.mu.Lock()
	limits, reduced := p.limits[ref]
	if !reduced {
		limits = p.opts.StatusLimits
	}
	p.mu.Unlock()
	entries := p.deps.Store.Snapshot(ref)
	records, intents := p.delivery.Snapshot(ref)
	activity := status.Activity(entries, records, limits)
	activity.HookUID = h.UID
	if err := p.deps.Status.WriteActivity(ctx, ref, activity); err != nil {
		if errors.Is(err, ports.ErrStatusTooLarge) {
			smaller := limits
			smaller.MaxEvents = max(len(activity.Events)/2, minStatusEvents)
			p.mu.Lock()
			p.limits[ref] = smaller
			p.deferred[ref] = true
			p.mu.Unlock()
			intents.Failed(p.deps.Clock.Now())
		} else {
			intents.Failed(p.writeFailed(ref)) // no slot of an agent waits on this Hook's writes
			p.markDirty(ref)
		}
		return fmt.Errorf("writing status of hook %s: %w", ref, err)
	}
	p.mu.Lock()
	delete(p.backoff, ref)
	p.mu.Unlock()
	intents.Written(status.Kept(activity))
	if reduced && full {
		p.growLimits(ref, limits)
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

// minStatusEvents is the smallest cap a too-large refusal halves a Hook's status to.
const minStatusEvents = 10

// growLimits raises the cap of ref's status, halved by a refusal as too large, by a quarter
// (at least one entry) after a full flush wrote it at the smaller cap; at the configured cap it
// is forgotten. A Hook whose status is too large for that cap is refused again and halved again:
// with one full flush a minute, that costs one refused write every few minutes, while a Hook whose
// storm has passed gets its configured cap back within about a quarter of an hour.
func (p *Pipeline) growLimits(ref hook.Ref, limits status.Limits) {
	normal := p.opts.StatusLimits.WithDefaults()
	limits.MaxEvents += max(limits.MaxEvents/4, 1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, still := p.limits[ref]; !still {
		return // removed, or recreated, meanwhile
	}
	if limits.MaxEvents >= normal.MaxEvents {
		delete(p.limits, ref)
		return
	}
	p.limits[ref] = limits
}

// Changed is signalled (without blocking, coalesced) whenever some Hook's state changed.
func (p *Pipeline) Changed() <-chan struct{} { return p.changed }

func (p *Pipeline) markDirty(ref hook.Ref) {
	p.mu.Lock()
	p.dirty[ref] = true
	p.mu.Unlock()
	select {
	case p.changed <- struct{}{}:
	default:
	}
}
