package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
	"github.com/khook-dev/khook/domain/investigation"
	"github.com/khook-dev/khook/domain/matching"
	"github.com/khook-dev/khook/domain/status"
	"github.com/khook-dev/khook/ports"
)

// UpsertHook validates h, indexes its usable configurations, brings the ledger of its firing
// events in line with them, and returns its Accepted condition. Configurations with a refused
// template, an event type no source provides, a malformed event type, an agent reference that
// cannot name an agent, an agent the AgentPolicy does not allow, an agent named twice for one
// event type, or a prompt past the Hook's memory budget (templating.MaxHookCost) are left out and
// named in the condition; the rest work. A refused configuration that still names an event type
// and an agent is held: the ledger of its agent is left as it is, and nothing is sent to the agent
// until the configuration is fixed, so that a typo, then its fix, tells nobody twice. It is
// atomic with respect to RestoreHook and RemoveHook of the same Hook.
func (p *Pipeline) UpsertHook(ctx context.Context, h hook.Hook) ports.Condition {
	defer p.hookLocks.lock(h.Ref)()
	p.forgetIfRecreated(h)
	usable := h
	usable.Configurations = nil
	var held []hook.Configuration
	var problems []status.Problem
	type typeAgent struct {
		t event.Type
		a hook.AgentRef
	}
	first := map[typeAgent]int{}
	grouped := map[event.Type]int{}         // the first configuration of each type with a valid grouping
	selected := map[event.Type]int{}        // the first configuration of each type with a valid selector
	prompts := p.deps.Renderer.HookBudget() // the memory the Hook's compiled prompts may hold
	for i, c := range h.Configurations {
		field := fmt.Sprintf("spec.eventConfigurations[%d]", i)
		if err := c.EventType.Validate(); err != nil {
			problems = append(problems, status.Problem{Reason: status.ReasonUnknownEventType, Field: field + ".eventType", Message: err.Error()})
			continue
		}
		if err := c.Agent.Validate(); err != nil {
			problems = append(problems, status.Problem{Reason: status.ReasonInvalidAgent, Field: field + "." + c.AgentPath(err), Message: err.Error()})
			continue
		}
		if j, dup := first[typeAgent{c.EventType, c.Agent}]; dup {
			problems = append(problems, status.Problem{Reason: status.ReasonDuplicateAgent, Field: field,
				Message: fmt.Sprintf("agent %s is already told of %s by spec.eventConfigurations[%d]; an agent gets one message per firing", c.Agent, c.EventType, j)})
			continue
		}
		first[typeAgent{c.EventType, c.Agent}] = i
		if problem, bad := groupingProblem(c, i, field, grouped, h.Configurations); bad {
			problems = append(problems, problem)
			held = append(held, c)
			continue
		}
		if problem, bad := selectorProblem(c, i, field, selected, h.Configurations); bad {
			problems = append(problems, problem)
			held = append(held, c)
			continue
		}
		if len(p.known) > 0 && !p.known[c.EventType] {
			problems = append(problems, status.Problem{Reason: status.ReasonUnknownEventType, Field: field + ".eventType",
				Message: fmt.Sprintf("no event source provides %q (known: %s)", c.EventType, p.knownList())})
			held = append(held, c)
			continue
		}
		if err := p.opts.AgentPolicy.Check(h, c.Agent); err != nil {
			problems = append(problems, status.Problem{Reason: status.ReasonAgentNotAllowed, Field: field + "." + c.AgentPath(err), Message: err.Error()})
			held = append(held, c)
			continue
		}
		if err := prompts.Check(c.Prompt); err != nil {
			problems = append(problems, status.Problem{Reason: status.ReasonTemplateRefused, Field: field + ".prompt", Message: err.Error()})
			held = append(held, c)
			continue
		}
		usable.Configurations = append(usable.Configurations, c)
	}
	previous, known := p.deps.Index.Get(h.Ref)
	p.agentsChanged(p.deps.Index.Upsert(usable))
	p.delivery.Configure(h.Ref, delivery.Assignment{Active: usable.Configurations, Held: held})
	cond := status.Accepted(problems)
	p.mu.Lock()
	before := p.problems[h.Ref]
	p.problems[h.Ref] = problems
	told := p.told[h.Ref]
	delete(p.told, h.Ref)
	p.mu.Unlock()
	if fmt.Sprint(before) != fmt.Sprint(problems) {
		for _, pr := range problems {
			if pr.Reason == status.ReasonTemplateRefused {
				p.deps.Metrics.TemplateRefused("refused")
			}
		}
		if len(problems) > 0 {
			p.deps.Audit.Record(ctx, h.Ref, ports.AuditRecord{Kind: ports.AuditHookNotAccepted, Warning: true, Message: cond.Message, HookUID: h.UID})
		}
	}
	p.reconcile(ctx, usable, told)
	if known && previous.Generation != h.Generation {
		p.delivery.Revive(h.Ref) // the Hook changed: what it could not deliver gets a new round
	}
	return cond
}

// groupingProblem says what is wrong with configuration i's grouping (field is its path): a
// field out of bounds, or a grouping other than that of the first configuration of its type in
// grouped (one firing is in one incident). It notes the first configuration of each type.
func groupingProblem(c hook.Configuration, i int, field string, grouped map[event.Type]int, all []hook.Configuration) (status.Problem, bool) {
	g := c.GroupingOrDefault()
	if err := g.Validate(); err != nil {
		var invalid *hook.InvalidGroupingError
		if errors.As(err, &invalid) {
			field += "." + invalid.Field
		}
		return status.Problem{Reason: status.ReasonInvalidGrouping, Field: field, Message: err.Error()}, true
	}
	j, seen := grouped[c.EventType]
	if !seen {
		grouped[c.EventType] = i
		return status.Problem{}, false
	}
	if first := all[j].GroupingOrDefault(); !first.Same(g) {
		return status.Problem{Reason: status.ReasonInvalidGrouping, Field: field + ".groupBy", Message: fmt.Sprintf(
			"groups %s by %s, but spec.eventConfigurations[%d] groups it by %s: configurations of one event type must group alike (one firing is in one incident)",
			c.EventType, describeGrouping(g), j, describeGrouping(first))}, true
	}
	return status.Problem{}, false
}

// selectorProblem says what is wrong with configuration i's selector (field is its path): one
// Kubernetes would refuse, or one other than that of the first configuration of its type in
// selected (a firing exists for a Hook or not: its configurations of one type must select
// alike). It notes the first configuration of each type.
func selectorProblem(c hook.Configuration, i int, field string, selected map[event.Type]int, all []hook.Configuration) (status.Problem, bool) {
	if c.SelectorError != nil {
		var invalid *hook.InvalidSelectorError
		if errors.As(c.SelectorError, &invalid) {
			field += ".selector." + invalid.Field
		} else {
			field += ".selector"
		}
		return status.Problem{Reason: status.ReasonInvalidSelector, Field: field, Message: c.SelectorError.Error()}, true
	}
	j, seen := selected[c.EventType]
	if !seen {
		selected[c.EventType] = i
		return status.Problem{}, false
	}
	if !all[j].Selector.Same(c.Selector) {
		return status.Problem{Reason: status.ReasonInvalidSelector, Field: field + ".selector", Message: fmt.Sprintf(
			"selects other resources of %s than spec.eventConfigurations[%d]: configurations of one event type must select alike (a firing is the Hook's or not); use another Hook for other resources",
			c.EventType, j)}, true
	}
	return status.Problem{}, false
}

func describeGrouping(g hook.Grouping) string {
	if g.By == hook.ByLabels {
		return "labels " + strings.Join(g.Labels, ",")
	}
	return string(g.By)
}

// reconcile makes the records of every open incident of h name the agents h now tells of its
// type (see delivery.Engine.Ensure): added agents are told, removed ones are not (their tasks at
// work are still followed), held ones keep their records.
func (p *Pipeline) reconcile(ctx context.Context, h hook.Hook, toldBeforeLedger []event.Key) {
	told := map[event.Key]bool{}
	for _, k := range toldBeforeLedger {
		told[k] = true
	}
	live, _ := p.incidents.Live(h.Ref)
	for _, inc := range live {
		if inc.Resolved {
			continue
		}
		alreadyTold := len(inc.Members) > 0 && told[inc.Members[0]]
		switch {
		case inc.Started || alreadyTold:
			p.incidents.Start(h.Ref, inc.Key)
			p.delivery.Ensure(delivery.Firing{Hook: h.Ref, HookUID: h.UID, Key: inc.Key, FirstSeen: inc.StartedAt, Resource: subjectResource(inc.Key)}, alreadyTold)
		case !p.gatheringNow(h.Ref, inc.Key): // restored while it gathered members
			if due := inc.StartedAt.Add(h.GroupingFor(inc.Key.Type).Wait); due.After(p.deps.Clock.Now()) {
				p.gather(h.Ref, inc.Key, due)
			} else {
				p.start(ctx, h, inc.Key)
			}
		}
	}
	p.markDirty(h.Ref)
}

// RestoreHook loads what a Hook had before a restart or a leader change: its investigations (read
// from the API server, which holds the last leader's writes) with their incidents and records,
// and its status. From a status the previous release wrote, which kept each firing's ledger on
// the Hook, it takes the ledger too, and writes it as investigations once (an investigation
// already written wins). It restores nothing when this process already holds newer state for the
// Hook, and reports whether it restored anything. Call it before UpsertHook, which then tells the
// agents the restored incidents still owe a message.
//
// The reconciler and the start-up load may load one Hook at once. RestoreHook is atomic with
// respect to UpsertHook and RemoveHook of the same Hook, so that no UpsertHook can see the
// restored entries before their records are restored: it would build fresh pending records, the
// engine would then keep those instead of the saved ones, and agents already told would be told
// again.
func (p *Pipeline) RestoreHook(h hook.Hook, active []ports.ActiveEvent, investigations []ports.Investigation) bool {
	defer p.hookLocks.lock(h.Ref)()
	p.forgetIfRecreated(h)
	ref := h.Ref
	legacy := status.Restore(h, active)
	var incidents []incident.Incident
	var records []delivery.Record
	written := map[string]bool{}
	versions := map[string]string{}
	for _, inv := range investigations {
		if inv.HookUID != "" && h.UID != "" && inv.HookUID != h.UID {
			continue // a deleted Hook's, of the same name
		}
		inc, recs := investigation.Read(inv)
		for i := range recs {
			recs[i].HookUID = h.UID
		}
		incidents = append(incidents, inc)
		records = append(records, recs...)
		written[inc.Name] = true
		versions[inv.Name] = inv.Version
	}
	var upgraded []incident.Key
	for _, inc := range legacy.Incidents {
		if !written[inc.Name] {
			incidents = append(incidents, inc)
			upgraded = append(upgraded, inc.Key)
		}
	}
	for _, r := range legacy.Records {
		if slices.Contains(upgraded, r.Key) {
			r.HookUID = h.UID
			records = append(records, r)
		}
	}
	entries := membersEntries(ref, incidents, legacy.Entries)
	firing, ok := p.deps.Store.Restore(ref, entries)
	if !ok && len(incidents) == 0 {
		return false
	}
	restored := p.incidents.Restore(ref, incidents, func(inc incident.Incident, member event.Key) bool {
		e, ok := p.deps.Store.Get(ref, member)
		return ok && e.State == dedup.Firing
	})
	if !restored && !ok {
		return false
	}
	if restored {
		p.spentBefore(h, incidents)
	}
	p.deps.Metrics.FiringEntries(firing)
	p.delivery.Restore(ref, records)
	p.mu.Lock()
	for name, v := range versions {
		m := p.versions[ref]
		if m == nil {
			m = map[string]string{}
			p.versions[ref] = m
		}
		m[name] = v
	}
	if len(legacy.ToldBeforeLedger) > 0 {
		p.told[ref] = legacy.ToldBeforeLedger
	}
	p.mu.Unlock()
	for _, inc := range incidents {
		if inc.Suppressed.Reason == incident.Silenced && !inc.Resolved {
			p.resilence(ref, inc.Key) // looked at again: its Silence may have ended meanwhile
		}
		var recs []delivery.Record
		for _, r := range records {
			if r.Key == inc.Key {
				recs = append(recs, r)
			}
		}
		if investigation.Finished(inc, recs) {
			ended := investigation.EndedAt(inc, recs)
			p.finished(ref, inc.Name, ended)
			p.investigationEnded(h, inc, recs, ended)
		}
	}
	for _, k := range upgraded {
		p.markInvestigation(ref, k) // written once as an investigation
	}
	byName := map[string]incident.Key{}
	for _, inc := range incidents {
		byName[inc.Name] = inc.Key
	}
	named := map[event.Key]incident.Key{}
	for _, a := range active {
		if k, ok := byName[a.Investigation]; ok && a.Investigation != "" {
			named[event.Key{Type: event.Type(a.EventType), Namespace: a.Namespace, ResourceName: a.ResourceName, Fingerprint: a.Fingerprint}] = k
		}
	}
	p.openUnheld(h, legacy.Entries, named)
	return true
}

// membersEntries returns the dedup entries the restored incidents' members make, firing while
// their incident is open, beside those of the status (which win: they say when each was seen).
func membersEntries(ref hook.Ref, incidents []incident.Incident, fromStatus []dedup.Entry) []dedup.Entry {
	out := slices.Clone(fromStatus)
	have := map[event.Key]bool{}
	for _, e := range fromStatus {
		have[e.Key] = true
	}
	for _, inc := range incidents {
		for _, m := range inc.Members {
			if have[m] {
				continue
			}
			have[m] = true
			e := dedup.Entry{Hook: ref, Key: m, State: dedup.Firing, FirstSeen: inc.StartedAt, LastSeen: maxTime(inc.LastSeen, inc.StartedAt),
				Occurrences: 1, Partial: inc.Partial}
			e.LastEvent = inc.First
			e.LastEvent.Type, e.LastEvent.Namespace, e.LastEvent.ResourceName, e.LastEvent.Fingerprint = m.Type, m.Namespace, m.ResourceName, m.Fingerprint
			if inc.Resolved {
				e.State, e.ResolvedAt, e.Resolution = dedup.Resolved, inc.ResolvedAt, inc.Resolution
			}
			out = append(out, e)
		}
	}
	return out
}

// openUnheld puts each firing entry of a restored status that belongs to no incident in one: the
// incident its status entry names (a member beyond those an investigation names), or one of its
// own (an entry no agent was to be told of, or one told before khook kept a ledger), so that
// every firing has one.
func (p *Pipeline) openUnheld(h hook.Hook, entries []dedup.Entry, named map[event.Key]incident.Key) {
	for _, e := range entries {
		if e.State != dedup.Firing {
			continue
		}
		if _, ok := p.incidents.Of(h.Ref, e.Key); ok {
			continue
		}
		key, ok := named[e.Key]
		if !ok {
			key = incident.KeyOf(e.LastEvent, h.GroupingFor(e.Key.Type))
		}
		inc, opened := p.incidents.Fire(h.Ref, key, e.Key, e.LastEvent, e.FirstSeen, incident.Opening{
			Name:    func(k incident.Key, at time.Time) string { return incident.InvestigationName(h.Ref.Name, h.UID, k, at) },
			Partial: e.Partial,
		})
		if opened && !inc.Unrecorded {
			p.markInvestigation(h.Ref, key)
		}
	}
}

// forgetIfRecreated drops what the pipeline holds for h's name when it belongs to another Hook
// (deleted, then created again while this process did not see the deletion): the new Hook starts
// from its own status, not from the old one's firings and ledger.
func (p *Pipeline) forgetIfRecreated(h hook.Hook) {
	old, ok := p.deps.Index.Get(h.Ref)
	if !ok || old.UID == "" || h.UID == "" || old.UID == h.UID {
		return
	}
	p.deps.Logger.Info("hook recreated under the same name; the deleted one's state is dropped", "hook", h.Ref.String(), "oldUID", old.UID, "uid", h.UID)
	p.removeHook(h.Ref)
}

// RemoveHook stops matching for ref and drops its state: the Hook is gone. It is atomic with
// respect to RestoreHook and UpsertHook of the same Hook.
func (p *Pipeline) RemoveHook(ref hook.Ref) {
	defer p.hookLocks.lock(ref)()
	p.removeHook(ref)
}

func (p *Pipeline) removeHook(ref hook.Ref) {
	p.agentsChanged(p.deps.Index.Remove(ref))
	p.deps.Metrics.FiringEntries(-p.deps.Store.Drop(ref))
	p.delivery.Drop(ref)
	p.incidents.Drop(ref)
	p.mu.Lock()
	delete(p.dirty, ref)
	delete(p.pending, ref)
	delete(p.gathering, ref)
	delete(p.versions, ref)
	delete(p.done, ref)
	delete(p.records, ref)
	p.total = subCounts(p.total, p.counts[ref])
	delete(p.counts, ref)
	delete(p.written, ref)
	delete(p.problems, ref)
	delete(p.told, ref)
	delete(p.backoff, ref)
	delete(p.silenced, ref)
	p.mu.Unlock()
	p.budgets.ForgetHook(ref)
	p.cooldowns.ForgetHook(ref)
}

// agentsChanged tells the metrics which agents a Hook change brought into or out of use: they
// keep series only for agents some Hook names.
func (p *Pipeline) agentsChanged(c matching.AgentChanges) {
	for _, a := range c.Used {
		p.deps.Metrics.AgentUsed(a)
	}
	for _, a := range c.Unused {
		p.deps.Metrics.AgentUnused(a)
	}
}

func (p *Pipeline) knownList() string {
	names := make([]string, 0, len(p.known))
	for t := range p.known {
		names = append(names, string(t))
	}
	sort.Strings(names)
	return fmt.Sprint(names)
}

// keyedLocks serialises RestoreHook, UpsertHook and RemoveHook per Hook. None of them is on the
// event path, which takes no such lock. An entry lives only while its Hook is locked or waited
// for, so the map stays as small as the number of Hooks being loaded at once.
type keyedLocks struct {
	mu   sync.Mutex
	held map[hook.Ref]*keyedLock
}

type keyedLock struct {
	mu    sync.Mutex
	users int // holders and waiters; guarded by keyedLocks.mu
}

// lock locks Hook ref and returns the function that unlocks it.
func (l *keyedLocks) lock(ref hook.Ref) (unlock func()) {
	l.mu.Lock()
	if l.held == nil {
		l.held = map[hook.Ref]*keyedLock{}
	}
	kl := l.held[ref]
	if kl == nil {
		kl = &keyedLock{}
		l.held[ref] = kl
	}
	kl.users++
	l.mu.Unlock()
	kl.mu.Lock()
	return func() {
		kl.mu.Unlock()
		l.mu.Lock()
		if kl.users--; kl.users == 0 {
			delete(l.held, ref)
		}
		l.mu.Unlock()
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
