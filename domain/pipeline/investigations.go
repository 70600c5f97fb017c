package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
	"github.com/khook-dev/khook/domain/investigation"
	"github.com/khook-dev/khook/ports"
)

// writeInvestigation writes the investigation of Hook h's incident k: created the first time,
// then its status over the version last read or written, so that a deposed leader's late write
// fails instead of overwriting the new leader's. On a conflict the object is read again, what the
// other writer knew that this process does not (an agent that accepted) is taken over, and it is
// written once more at once: a create whose answer was lost (a cancelled request the API server
// carried out, the shutdown's last write among them) is then complete in this one write. A second
// conflict waits for the next flush.
func (p *Pipeline) writeInvestigation(ctx context.Context, h hook.Hook, k incident.Key) error {
	err := p.writeInvestigationOnce(ctx, h, k)
	if errors.Is(err, ports.ErrConflict) {
		err = p.writeInvestigationOnce(ctx, h, k)
	}
	return err
}

func (p *Pipeline) writeInvestigationOnce(ctx context.Context, h hook.Hook, k incident.Key) error {
	inc, ok := p.incidents.Get(h.Ref, k)
	if !ok || inc.Unrecorded {
		return nil // forgotten meanwhile, or only counted
	}
	records, intents := p.delivery.Snapshot(h.Ref, k)
	inv := investigation.View(h.Ref, h.UID, h.GroupingFor(k.Type).By, inc, records)
	if len(inc.Members) > 0 {
		if e, ok := p.deps.Store.Get(h.Ref, inc.Members[0]); ok && e.LastSeen.After(inv.LastSeen) {
			inv.LastSeen = e.LastSeen.UTC().Truncate(time.Second)
		}
	}
	inv.Version = p.version(h.Ref, inc.Name)
	version, err := p.deps.Investigations.Save(ctx, inv)
	switch {
	case err == nil:
		p.setVersion(h.Ref, inc.Name, version)
		intents.Written()
		if investigation.Finished(inc, records) {
			ended := investigation.EndedAt(inc, records)
			p.finished(h.Ref, inc.Name, ended)
			p.investigationEnded(h, inc, records, ended)
		}
		return nil
	case errors.Is(err, ports.ErrHookGone):
		intents.Failed(p.deps.Clock.Now().Add(p.opts.Investigations.Retention)) // the Hook's removal drops them
		return nil
	case errors.Is(err, ports.ErrConflict):
		intents.Failed(p.deps.Clock.Now())
		p.reread(ctx, h, inc.Name)
		return fmt.Errorf("writing investigation %s/%s of hook %s: %w", h.Ref.Namespace, inc.Name, h.Ref, err)
	default:
		intents.Failed(p.writeFailed(h.Ref))
		return fmt.Errorf("writing investigation %s/%s of hook %s: %w", h.Ref.Namespace, inc.Name, h.Ref, err)
	}
}

// reread reads investigation name of Hook h again after a conflict: its version becomes the
// one to write over, and what its records know that the engine's do not is taken over.
func (p *Pipeline) reread(ctx context.Context, h hook.Hook, name string) {
	cur, found, err := p.deps.Investigations.Get(ctx, h.Ref, name)
	if err != nil {
		p.deps.Logger.Error("reading an investigation again after a conflict failed; trying again later", "hook", h.Ref.String(), "investigation", name, "error", err.Error())
		return
	}
	if !found {
		p.setVersion(h.Ref, name, "") // deleted meanwhile: create it again
		return
	}
	_, theirs := investigation.Read(cur)
	for i := range theirs {
		theirs[i].HookUID = h.UID
	}
	if n := p.delivery.Merge(h.Ref, theirs); n > 0 {
		p.deps.Logger.Info("took over what another writer recorded on an investigation", "hook", h.Ref.String(), "investigation", name, "records", n)
	}
	p.setVersion(h.Ref, name, cur.Version)
}

func (p *Pipeline) version(ref hook.Ref, name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.versions[ref][name]
}

func (p *Pipeline) setVersion(ref hook.Ref, name, version string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.versions[ref]
	if m == nil {
		m = map[string]string{}
		p.versions[ref] = m
	}
	m[name] = version
}

// finished notes that investigation name of ref ended at at: retention counts it.
func (p *Pipeline) finished(ref hook.Ref, name string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.done[ref]
	if m == nil {
		m = map[string]time.Time{}
		p.done[ref] = m
	}
	m[name] = at
}

// maxDeletesPerSweep bounds the investigations one sweep removes, so that a sweep after a long
// storm does not hold the loop for long; the next sweep goes on.
const maxDeletesPerSweep = 100

// retain removes the finished investigations older than the retention, and those beyond the
// newest Kept of each Hook.
func (p *Pipeline) retain(ctx context.Context) {
	now := p.deps.Clock.Now()
	p.mu.Lock()
	type doomed struct {
		ref  hook.Ref
		name string
	}
	var gone []doomed
	for ref, m := range p.done {
		done := make([]investigation.Done, 0, len(m))
		for name, at := range m {
			done = append(done, investigation.Done{Name: name, EndedAt: at})
		}
		for _, name := range investigation.Expired(done, now, p.opts.Investigations.Retention, p.opts.Investigations.Kept) {
			gone = append(gone, doomed{ref, name})
		}
	}
	p.mu.Unlock()
	sort.Slice(gone, func(i, j int) bool { return gone[i].ref.String()+gone[i].name < gone[j].ref.String()+gone[j].name })
	for i, d := range gone {
		if i == maxDeletesPerSweep {
			break
		}
		if err := p.deps.Investigations.Delete(ctx, d.ref, d.name); err != nil {
			p.deps.Logger.Error("removing a finished investigation failed; trying again at the next sweep", "hook", d.ref.String(), "investigation", d.name, "error", err.Error())
			continue
		}
		p.mu.Lock()
		delete(p.done[d.ref], d.name)
		if len(p.done[d.ref]) == 0 {
			delete(p.done, d.ref)
		}
		if m := p.versions[d.ref]; m != nil {
			delete(m, d.name)
		}
		p.mu.Unlock()
	}
}
