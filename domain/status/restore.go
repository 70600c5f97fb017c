package status

import (
	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
	"github.com/khook-dev/khook/ports"
)

// Restored is what a Hook's status gives back after a restart: its dedup entries and, from a
// status the previous release wrote (which kept each firing's ledger on the Hook), the incidents
// and records to carry on from and to write as investigations, once.
type Restored struct {
	Entries []dedup.Entry
	// Incidents and Records come from a ledger the previous release kept on the Hook: one
	// incident per firing (its resource is its subject), its investigation named as this release
	// names it.
	Incidents []incident.Incident
	Records   []delivery.Record
	// ToldBeforeLedger lists firing keys whose status says every agent was told, written before
	// khook kept a ledger at all: their agents are not told again.
	ToldBeforeLedger []event.Key
}

// Restore reads a Hook's status entries back. Entries with an unknown status and deliveries
// naming no agent are skipped.
func Restore(h hook.Hook, active []ports.ActiveEvent) Restored {
	var out Restored
	for _, a := range active {
		state := dedup.State(a.Status)
		if state != dedup.Firing && state != dedup.Resolved {
			continue
		}
		key := keyOf(a)
		e := dedup.Entry{Hook: h.Ref, Key: key, State: state, FirstSeen: a.FirstSeen, LastSeen: a.LastSeen,
			Occurrences: max(a.Occurrences, 1), Resolution: event.Resolution(a.ResolvedReason)}
		if state == dedup.Resolved {
			e.ResolvedAt = a.ResolvedAt
			if e.ResolvedAt.IsZero() {
				e.ResolvedAt = a.LastSeen
			}
		}
		e.LastEvent = event.Event{Type: key.Type, Namespace: key.Namespace, ResourceName: key.ResourceName, Fingerprint: key.Fingerprint,
			Timestamp: a.LastSeen}
		if s := a.Event; s != nil {
			e.LastEvent.ResourceKind, e.LastEvent.Reason, e.LastEvent.Message, e.LastEvent.Source = s.ResourceKind, s.Reason, s.Message, s.Source
			e.LastEvent.SourceType, e.LastEvent.Severity, e.LastEvent.Description = s.SourceType, s.Severity, s.Description
			e.LastEvent.Metadata, e.LastEvent.Tags = s.Metadata, s.Tags
			if !s.Timestamp.IsZero() {
				e.LastEvent.Timestamp = s.Timestamp
			}
		}
		e.Partial = a.Event == nil && state == dedup.Firing
		out.Entries = append(out.Entries, e)
		if state == dedup.Firing && len(a.Deliveries) == 0 && !a.NotifiedAt.IsZero() && a.Investigation == "" {
			out.ToldBeforeLedger = append(out.ToldBeforeLedger, key)
		}
		if len(a.Deliveries) == 0 {
			continue // this release's summary, or an entry nobody was to be told of
		}
		ikey := incident.KeyOf(e.LastEvent, hook.Grouping{By: hook.ByResource}) // that release had no incidents
		inc := incident.Incident{Key: ikey, Name: incident.InvestigationName(h.Ref.Name, h.UID, ikey, a.FirstSeen), StartedAt: a.FirstSeen,
			First: e.LastEvent, Partial: e.Partial, Members: []event.Key{key}, MemberCount: 1, LastSeen: a.LastSeen,
			Resolved: state == dedup.Resolved, ResolvedAt: e.ResolvedAt, Resolution: e.Resolution, Started: true}
		out.Incidents = append(out.Incidents, inc)
		firing := delivery.Firing{Hook: h.Ref, HookUID: h.UID, Key: ikey, FirstSeen: a.FirstSeen,
			Resource: ports.ResourceRef{Kind: e.LastEvent.ResourceKind, Namespace: key.Namespace, Name: key.ResourceName}}
		for _, d := range a.Deliveries {
			agent, err := hook.ParseAgentID(d.Agent, "")
			if err != nil {
				continue
			}
			state := delivery.State(d.State)
			cause, lastError := delivery.Cause(d.Cause), d.LastError
			if cause == "" {
				cause, lastError = delivery.CauseOf(state, lastError) // written by the release before
			}
			out.Records = append(out.Records, delivery.Record{Firing: firing, Agent: agent, MessageID: d.MessageID, ContextID: d.ContextID,
				TaskID: d.TaskID, State: state, Summary: d.Summary, LastError: lastError, Cause: cause, Attempts: d.Attempts, Reruns: d.Reruns,
				SentAt: d.SentAt, UpdatedAt: d.UpdatedAt, NextAt: d.NextAttemptAt})
		}
	}
	return out
}
