package kubernetes

import (
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
// the configuration's agent empty, which the pipeline reports as an invalid agent.
func ToDomain(h *v1alpha2.Hook) hook.Hook {
	out := hook.Hook{Ref: RefOf(h), Generation: h.Generation}
	for _, c := range h.Spec.EventConfigurations {
		var agent hook.AgentRef
		switch {
		case c.AgentRef != nil:
			agent = hook.AgentRef{Namespace: c.AgentRef.Namespace, Name: c.AgentRef.Name}
			if agent.Namespace == "" {
				agent.Namespace = h.Namespace
			}
		case c.AgentID != "":
			agent, _ = hook.ParseAgentID(c.AgentID, h.Namespace)
		}
		out.Configurations = append(out.Configurations, hook.Configuration{EventType: event.Type(c.EventType), Agent: agent, Prompt: c.Prompt})
	}
	return out
}

// ActiveEventsOf reads a Hook's status.activeEvents.
func ActiveEventsOf(s v1alpha2.HookStatus) []ports.ActiveEvent {
	out := make([]ports.ActiveEvent, 0, len(s.ActiveEvents))
	for _, a := range s.ActiveEvents {
		out = append(out, ports.ActiveEvent{
			EventType: a.EventType, Namespace: a.Namespace, ResourceName: a.ResourceName,
			FirstSeen: a.FirstSeen.UTC(), LastSeen: a.LastSeen.UTC(), Status: string(a.Status),
			NotifiedAt: timeOf(a.NotifiedAt), LastNotifiedAt: timeOf(a.LastNotifiedAt),
		})
	}
	return out
}

// toAPIActiveEvents writes domain status entries in the API's shape.
func toAPIActiveEvents(events []ports.ActiveEvent) []v1alpha2.ActiveEvent {
	if len(events) == 0 {
		return nil
	}
	out := make([]v1alpha2.ActiveEvent, 0, len(events))
	for _, a := range events {
		out = append(out, v1alpha2.ActiveEvent{
			EventType: a.EventType, Namespace: a.Namespace, ResourceName: a.ResourceName,
			FirstSeen: metav1.NewTime(a.FirstSeen), LastSeen: metav1.NewTime(a.LastSeen),
			Status: v1alpha2.EventStatus(a.Status), NotifiedAt: metaTimeOf(a.NotifiedAt), LastNotifiedAt: metaTimeOf(a.LastNotifiedAt),
		})
	}
	return out
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
