package kubernetes

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// RefOf returns the domain reference of h.
func RefOf(h *v1alpha2.Hook) hook.Ref { return hook.Ref{Namespace: h.Namespace, Name: h.Name} }

// ToDomain converts a Hook resource to the domain's hook. An agentId that cannot be read leaves
// the configuration's agent empty, which the pipeline reports as an invalid agent; a selector
// Kubernetes would refuse is kept on the configuration's SelectorError (naming the field below
// the selector), which the pipeline reports as a refused configuration. The agent allow-list of
// the Hook's namespace is not part of the resource: the reconciler adds it.
func ToDomain(h *v1alpha2.Hook) hook.Hook {
	out := hook.Hook{Ref: RefOf(h), UID: string(h.UID), Generation: h.Generation, Limits: LimitsToDomain(h.Spec.Limits)}
	for _, c := range h.Spec.EventConfigurations {
		var agent hook.AgentRef
		field := hook.AgentFieldRef
		switch {
		case c.AgentRef != nil:
			agent = hook.AgentRef{Namespace: c.AgentRef.Namespace, Name: c.AgentRef.Name}
			if agent.Namespace == "" {
				agent.Namespace = h.Namespace
			}
		case c.AgentID != "":
			agent, _ = hook.ParseAgentID(c.AgentID, h.Namespace)
			field = hook.AgentFieldID
		}
		selector, selectorErr := SelectorToDomain(c.Selector)
		out.Configurations = append(out.Configurations, hook.Configuration{EventType: event.Type(c.EventType), Agent: agent, Prompt: c.Prompt, AgentField: field,
			Selector: selector, SelectorError: selectorErr, Grouping: GroupingToDomain(c)})
	}
	return out
}

// GroupingToDomain converts a configuration's groupBy, groupLabels and groupWait; an absent
// groupWait is hook.DefaultGroupWait. What the CRD refuses (an unknown groupBy, a wait past
// 10m) is kept as written, for the pipeline to report naming the field.
func GroupingToDomain(c v1alpha2.EventConfiguration) hook.Grouping {
	g := hook.Grouping{By: hook.GroupBy(c.GroupBy), Labels: slices.Clone(c.GroupLabels), Wait: hook.DefaultGroupWait}
	if c.GroupWait != nil {
		g.Wait = c.GroupWait.Duration
	}
	return g
}

// SelectorToDomain converts a label selector; nil (no selector) is the zero Selector, which
// matches everything. The error, from hook.Selector.Validate, names the field below the
// selector that Kubernetes would refuse; the selector is returned with it, unusable.
func SelectorToDomain(s *v1alpha2.LabelSelector) (hook.Selector, error) {
	if s == nil {
		return hook.Selector{}, nil
	}
	var out hook.Selector
	if len(s.MatchLabels) > 0 {
		out.MatchLabels = make(map[string]string, len(s.MatchLabels))
		for k, v := range s.MatchLabels {
			out.MatchLabels[k] = string(v)
		}
	}
	for _, r := range s.MatchExpressions {
		req := hook.Requirement{Key: r.Key, Operator: hook.Operator(r.Operator)}
		for _, v := range r.Values {
			req.Values = append(req.Values, string(v))
		}
		out.MatchExpressions = append(out.MatchExpressions, req)
	}
	return out, out.Validate()
}

// LimitsToDomain converts a Hook's spec.limits; nil bounds nothing. Values beyond what the CRD
// accepts (a Hook written before it checked them) are brought within it.
func LimitsToDomain(l *v1alpha2.HookLimits) hook.Limits {
	var out hook.Limits
	if l == nil {
		return out
	}
	if l.MaxInvestigationsPerHour != nil {
		out.MaxInvestigationsPerHour = min(max(int(*l.MaxInvestigationsPerHour), 0), hook.MaxInvestigationsPerHourLimit)
	}
	if l.Cooldown != nil {
		out.Cooldown = min(max(l.Cooldown.Duration, 0), hook.MaxCooldown)
	}
	return out
}

// ActiveEventsOf reads a Hook's status.activeEvents (with the ledger the previous release kept
// there, which RestoreHook moves to investigations).
func ActiveEventsOf(s v1alpha2.HookStatus) []ports.ActiveEvent {
	out := make([]ports.ActiveEvent, 0, len(s.ActiveEvents))
	for _, a := range s.ActiveEvents {
		e := ports.ActiveEvent{
			EventType: a.EventType, Namespace: a.Namespace, ResourceName: a.ResourceName, Fingerprint: a.Fingerprint,
			FirstSeen: a.FirstSeen.UTC(), LastSeen: a.LastSeen.UTC(), Status: string(a.Status),
			ResolvedReason: string(a.ResolvedReason), ResolvedAt: timeOf(a.ResolvedAt), Occurrences: a.Occurrences,
			NotifiedAt: timeOf(a.NotifiedAt), LastNotifiedAt: timeOf(a.LastNotifiedAt), Investigation: a.Investigation,
			Event: fromAPISnapshot(a.Event),
		}
		for _, d := range a.Deliveries {
			e.Deliveries = append(e.Deliveries, fromAPIDelivery(d))
		}
		out = append(out, e)
	}
	return out
}

// toAPIActiveEvents writes a Hook's status summary in the API's shape.
func toAPIActiveEvents(events []ports.ActiveEvent) []v1alpha2.ActiveEvent {
	if len(events) == 0 {
		return nil
	}
	out := make([]v1alpha2.ActiveEvent, 0, len(events))
	for _, a := range events {
		out = append(out, v1alpha2.ActiveEvent{
			EventType: a.EventType, Namespace: a.Namespace, ResourceName: a.ResourceName, Fingerprint: a.Fingerprint,
			FirstSeen: metav1.NewTime(a.FirstSeen), LastSeen: metav1.NewTime(a.LastSeen), Status: v1alpha2.EventStatus(a.Status),
			ResolvedReason: v1alpha2.ResolvedReason(a.ResolvedReason), ResolvedAt: metaTimeOf(a.ResolvedAt), Occurrences: a.Occurrences,
			NotifiedAt: metaTimeOf(a.NotifiedAt), LastNotifiedAt: metaTimeOf(a.LastNotifiedAt), Investigation: a.Investigation,
		})
	}
	return out
}

// toAPICounts writes investigation counts in the API's shape; nil when there is nothing to count.
func toAPICounts(c ports.InvestigationCounts) *v1alpha2.InvestigationCounts {
	out := &v1alpha2.InvestigationCounts{Pending: int32(c.Pending), Working: int32(c.Working), Completed: int32(c.Completed),
		Failed: int32(c.Failed), InputRequired: int32(c.InputRequired), Lost: int32(c.Lost), Resolved: int32(c.Resolved),
		Suppressed: int32(c.Suppressed)}
	for reason, n := range c.SuppressedBy {
		if out.SuppressedBy == nil {
			out.SuppressedBy = map[string]int32{}
		}
		out.SuppressedBy[reason] = int32(n)
	}
	if c.Pending+c.Working+c.Completed+c.Failed+c.InputRequired+c.Lost+c.Resolved+c.Suppressed == 0 {
		return nil
	}
	return out
}

func fromAPISnapshot(ev *v1alpha2.EventSnapshot) *ports.EventSnapshot {
	if ev == nil {
		return nil
	}
	s := &ports.EventSnapshot{ResourceKind: ev.ResourceKind, Reason: ev.Reason, Message: ev.Message, Timestamp: timeOf(ev.Timestamp),
		Source: ev.Source, SourceType: ev.SourceType, Severity: ev.Severity, Description: ev.Description, Metadata: ev.Metadata, Tags: ev.Tags,
		Node: ev.Node, Labels: ev.Labels}
	if w := ev.Workload; w != nil {
		s.WorkloadKind, s.WorkloadName = w.Kind, w.Name
	}
	return s
}

func toAPISnapshot(ev *ports.EventSnapshot) *v1alpha2.EventSnapshot {
	if ev == nil {
		return nil
	}
	s := &v1alpha2.EventSnapshot{ResourceKind: ev.ResourceKind, Reason: ev.Reason, Message: ev.Message, Timestamp: metaTimeOf(ev.Timestamp),
		Source: ev.Source, SourceType: ev.SourceType, Severity: ev.Severity, Description: ev.Description, Metadata: ev.Metadata, Tags: ev.Tags,
		Node: ev.Node, Labels: ev.Labels}
	if ev.WorkloadKind != "" || ev.WorkloadName != "" {
		s.Workload = &v1alpha2.WorkloadReference{Kind: ev.WorkloadKind, Name: ev.WorkloadName}
	}
	return s
}

func fromAPIDelivery(d v1alpha2.Delivery) ports.Delivery {
	return ports.Delivery{Agent: d.Agent, MessageID: d.MessageID, ContextID: d.ContextID, TaskID: d.TaskID,
		State: string(d.State), Summary: d.Summary, LastError: d.LastError, Cause: string(d.Cause), Attempts: int(d.Attempts), Reruns: int(d.Reruns),
		SentAt: timeOf(d.SentAt), UpdatedAt: timeOf(d.UpdatedAt), NextAttemptAt: timeOf(d.NextAttemptAt)}
}

func toAPIDelivery(d ports.Delivery) v1alpha2.Delivery {
	return v1alpha2.Delivery{Agent: d.Agent, MessageID: d.MessageID, ContextID: d.ContextID, TaskID: d.TaskID,
		State: v1alpha2.DeliveryState(d.State), Summary: d.Summary, LastError: d.LastError, Cause: v1alpha2.DeliveryCause(d.Cause),
		Attempts: int32(d.Attempts), Reruns: int32(d.Reruns),
		SentAt: metaTimeOf(d.SentAt), UpdatedAt: metaTimeOf(d.UpdatedAt), NextAttemptAt: metaTimeOf(d.NextAttemptAt)}
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func metaTimeOf(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t)
	return &mt
}
