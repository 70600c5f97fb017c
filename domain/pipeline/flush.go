package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/status"
	"github.com/khook-dev/khook/ports"
)

// FlushStatus writes the status of every Hook whose state changed since the last flush. With
// full, it also writes the Hooks whose events were merely seen again (their lastSeen and
// occurrences), and those whose last write was refused as too large. A Hook whose write fails
// stays marked and is written by a later flush.
func (p *Pipeline) FlushStatus(ctx context.Context, full bool) error {
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
		if err := p.flush(ctx, ref); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *Pipeline) flush(ctx context.Context, ref hook.Ref) error {
	h, ok := p.deps.Index.Get(ref)
	if !ok {
		return nil // deleted: nothing to write to
	}
	p.mu.Lock()
	limits := p.limits[ref]
	if limits == (status.Limits{}) {
		limits = p.opts.StatusLimits
	}
	p.mu.Unlock()
	entries := p.deps.Store.Snapshot(ref)
	records, written := p.delivery.Snapshot(ref)
	activity := status.Activity(entries, records, limits)
	activity.HookUID = h.UID
	if err := p.deps.Status.WriteActivity(ctx, ref, activity); err != nil {
		p.mu.Lock()
		if errors.Is(err, ports.ErrStatusTooLarge) {
			smaller := limits
			smaller.MaxEvents = max(len(activity.Events)/2, 10)
			p.limits[ref] = smaller
			p.deferred[ref] = true
		} else {
			p.dirty[ref] = true
		}
		p.mu.Unlock()
		return fmt.Errorf("writing status of hook %s: %w", ref, err)
	}
	written(status.Kept(activity))
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
	select {
	case p.changed <- struct{}{}:
	default:
	}
}
