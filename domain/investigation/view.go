package investigation

import (
	"strings"

	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
	"github.com/khook-dev/khook/domain/text"
	"github.com/khook-dev/khook/ports"
)

// maxSummary bounds the summary kubectl get shows.
const maxSummary = 256

// View returns the investigation of incident inc of Hook ref (its UID), grouped by groupBy, with
// the delivery records of its agents: what is written to the API server.
func View(ref hook.Ref, hookUID string, groupBy hook.GroupBy, inc incident.Incident, records []delivery.Record) ports.Investigation {
	s := inc.Key.Subject
	inv := ports.Investigation{
		Name: inc.Name, Hook: ref, HookUID: hookUID,
		EventType: string(inc.Key.Type), Subject: ports.Subject{Kind: s.Kind, Namespace: s.Namespace, Name: s.Name, Fingerprint: s.Fingerprint},
		GroupBy: string(groupBy), StartedAt: seconds(inc.StartedAt),
		Phase: string(PhaseOf(inc, records)), Reason: inc.Suppressed.Reason, Message: text.Cut(inc.Suppressed.Message, 1024),
		MemberCount: inc.MemberCount, LastSeen: seconds(inc.LastSeen),
	}
	if !inc.Partial {
		inv.Event = snapshotOf(inc.First)
	}
	for _, m := range inc.Members {
		inv.Members = append(inv.Members, MemberName(m))
	}
	if inc.Resolved {
		inv.ResolvedAt, inv.ResolvedReason = seconds(inc.ResolvedAt), string(inc.Resolution)
	}
	for _, r := range records {
		inv.Deliveries = append(inv.Deliveries, ports.InvestigationDelivery{
			Delivery: ports.Delivery{
				Agent: r.Agent.String(), MessageID: r.MessageID, ContextID: r.ContextID, TaskID: r.TaskID, State: string(r.State),
				Summary: cutEncoded(r.Summary, ports.MaxSummaryLength, MaxDeliveryTextBytes), LastError: cutEncoded(r.LastError, maxLastError, MaxDeliveryTextBytes),
				Cause: string(r.Cause), Attempts: r.Attempts, Reruns: r.Reruns,
				SentAt: seconds(r.SentAt), UpdatedAt: seconds(r.UpdatedAt), NextAttemptAt: nextAttempt(r),
			},
			Prompt: r.Prompt, PromptSHA256: r.PromptSHA256,
		})
	}
	return inv
}

// MemberName names a member for people and for reading back: namespace/name (name alone for a
// cluster-scoped resource), and @fingerprint when it has one.
func MemberName(k event.Key) string {
	s := k.ResourceName
	if k.Namespace != "" {
		s = k.Namespace + "/" + s
	}
	if k.Fingerprint != "" {
		s += "@" + k.Fingerprint
	}
	return s
}

// memberKey reads a member name back into the event key of type t.
func memberKey(t event.Type, name string) event.Key {
	k := event.Key{Type: t}
	if at := strings.LastIndexByte(name, '@'); at >= 0 {
		name, k.Fingerprint = name[:at], name[at+1:]
	}
	if slash := strings.IndexByte(name, '/'); slash >= 0 {
		k.Namespace, name = name[:slash], name[slash+1:]
	}
	k.ResourceName = name
	return k
}

// Read turns an investigation read back from the API server into its incident and the records of
// its agents: what a new leader, or khook after a restart, carries on from.
func Read(inv ports.Investigation) (incident.Incident, []delivery.Record) {
	key := incident.Key{Type: event.Type(inv.EventType), Subject: incident.Subject{Kind: inv.Subject.Kind, Namespace: inv.Subject.Namespace,
		Name: inv.Subject.Name, Fingerprint: inv.Subject.Fingerprint}}
	inc := incident.Incident{Key: key, Name: inv.Name, StartedAt: inv.StartedAt, MemberCount: max(inv.MemberCount, len(inv.Members)),
		LastSeen: inv.LastSeen, Resolved: !inv.ResolvedAt.IsZero(), ResolvedAt: inv.ResolvedAt, Resolution: event.Resolution(inv.ResolvedReason),
		Suppressed: incident.Suppression{Reason: inv.Reason, Message: inv.Message}}
	if inc.Suppressed.Reason == "" {
		inc.Suppressed.Message = ""
	}
	for _, m := range inv.Members {
		inc.Members = append(inc.Members, memberKey(key.Type, m))
	}
	first := event.Event{Type: key.Type, ResourceKind: key.Subject.Kind, Namespace: key.Subject.Namespace, ResourceName: key.Subject.Name,
		Fingerprint: key.Subject.Fingerprint, Timestamp: inv.StartedAt}
	if len(inc.Members) > 0 {
		m := inc.Members[0]
		first.Namespace, first.ResourceName, first.Fingerprint = m.Namespace, m.ResourceName, m.Fingerprint
	}
	if s := inv.Event; s != nil {
		first.ResourceKind, first.Reason, first.Message, first.Source, first.SourceType = s.ResourceKind, s.Reason, s.Message, s.Source, s.SourceType
		first.Severity, first.Description, first.Metadata, first.Tags = s.Severity, s.Description, s.Metadata, s.Tags
		first.Workload, first.Node, first.Labels = event.Workload{Kind: s.WorkloadKind, Name: s.WorkloadName}, s.Node, s.Labels
		if !s.Timestamp.IsZero() {
			first.Timestamp = s.Timestamp
		}
	}
	inc.First, inc.Partial = first, inv.Event == nil
	firing := delivery.Firing{Hook: inv.Hook, HookUID: inv.HookUID, Key: key, FirstSeen: inv.StartedAt,
		Resource: ports.ResourceRef{Kind: key.Subject.Kind, Namespace: key.Subject.Namespace, Name: key.Subject.Name}}
	var records []delivery.Record
	for _, d := range inv.Deliveries {
		agent, err := hook.ParseAgentID(d.Agent, "")
		if err != nil {
			continue
		}
		records = append(records, delivery.Record{Firing: firing, Agent: agent, MessageID: d.MessageID, ContextID: d.ContextID, TaskID: d.TaskID,
			State: delivery.State(d.State), Summary: d.Summary, LastError: d.LastError, Cause: delivery.Cause(d.Cause), Attempts: d.Attempts,
			Reruns: d.Reruns, Prompt: d.Prompt, PromptSHA256: d.PromptSHA256, SentAt: d.SentAt, UpdatedAt: d.UpdatedAt, NextAt: d.NextAttemptAt})
	}
	inc.Started = len(records) > 0 // else it was still gathering members (or suppressed)
	return inc, records
}

// Agents lists the agents of an investigation, for kubectl get: "kagent/a, kagent/b".
func Agents(inv ports.Investigation) string {
	var names []string
	for _, d := range inv.Deliveries {
		names = append(names, d.Agent)
	}
	return text.Cut(strings.Join(names, ", "), 1024)
}

// Summary is the start of the first answer an agent gave, for kubectl get: a completed one
// first.
func Summary(inv ports.Investigation) string {
	for _, completed := range []bool{true, false} {
		for _, d := range inv.Deliveries {
			if d.Summary != "" && (!completed || d.State == string(delivery.Completed)) {
				return text.Cut(oneLine(d.Summary), maxSummary)
			}
		}
	}
	return ""
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
