package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
	"github.com/khook-dev/khook/domain/templating"
	"github.com/khook-dev/khook/ports"
)

// preparer renders a record's message when its turn comes, from the configuration the delivery
// engine holds for the agent at that moment and the incident's latest occurrence (its first
// member's, or the one that opened it); never from an event whose details were not kept across a
// restart.
type preparer struct{ p *Pipeline }

var _ delivery.Preparer = preparer{}

func (pr preparer) Prepare(r delivery.Record, c hook.Configuration) (ports.AgentRequest, error) {
	p := pr.p
	inc, ok := p.incidents.Get(r.Hook, r.Key)
	if !ok || inc.Resolved || inc.StartedAt.Unix() != r.FirstSeen.Unix() {
		return ports.AgentRequest{}, delivery.ErrGone
	}
	ev, partial := inc.First, inc.Partial
	if len(inc.Members) > 0 { // the first member's latest occurrence, when the dedup store has it
		if e, ok := p.deps.Store.Get(r.Hook, inc.Members[0]); ok && e.State == dedup.Firing && !e.Partial {
			ev, partial = e.LastEvent, false
		}
	}
	if partial {
		return ports.AgentRequest{}, delivery.ErrAwaitingEvent
	}
	prompt, err := p.deps.Renderer.RenderGroup(c.Prompt, ev, groupOf(inc))
	if err != nil {
		reason := "error"
		if errors.Is(err, templating.ErrBudgetExceeded) {
			reason = "budget"
		}
		p.deps.Metrics.TemplateRefused(reason)
		p.deps.Audit.Record(context.Background(), r.Hook, ports.AuditRecord{Kind: ports.AuditTemplateFailed, Warning: true, Resource: r.Resource, HookUID: r.HookUID,
			Message: fmt.Sprintf("prompt for agent %s on %s: %v", r.Agent, r.Key.Describe(), err)})
		return ports.AgentRequest{}, fmt.Errorf("rendering the prompt of hook %s: %w", r.Hook, err)
	}
	return ports.AgentRequest{
		Hook: r.Hook, Agent: r.Agent, Prompt: prompt, MessageID: r.MessageID, ContextID: r.ContextID,
		EventType: string(ev.Type), ResourceName: ev.ResourceName, EventTime: ev.Timestamp, Metadata: metadataFor(r.Hook, ev),
	}, nil
}

// groupOf is what a prompt sees of incident inc: its subject, the names of the members it knows
// (a member of another namespace than the subject's as namespace/name) and how many there are.
// The renderer sorts, cleans and cuts the names.
func groupOf(inc incident.Incident) templating.Group {
	s := inc.Key.Subject
	g := templating.Group{Subject: templating.Subject{Kind: s.Kind, Namespace: s.Namespace, Name: s.Name},
		Resources: make([]string, 0, len(inc.Members)), ResourceCount: inc.MemberCount}
	for _, m := range inc.Members {
		name := m.ResourceName
		if m.Namespace != s.Namespace {
			name = m.Namespace + "/" + name
		}
		g.Resources = append(g.Resources, name)
	}
	return g
}

// metadataFor is the message metadata an agent receives: the event's context, then its tags and
// its own metadata (the context's keys win), sanitised as template data is: no control or
// invisible format characters, bounded in size.
func metadataFor(ref hook.Ref, e event.Event) map[string]string {
	m := map[string]string{
		"hook": ref.String(), "eventType": string(e.Type), "namespace": e.Namespace,
		"resourceName": e.ResourceName, "resourceKind": e.ResourceKind, "reason": e.Reason,
		"source": e.Source, "timestamp": e.Timestamp.UTC().Format(time.RFC3339),
	}
	for k, v := range map[string]string{"fingerprint": e.Fingerprint, "severity": e.Severity, "description": e.Description} {
		if v != "" {
			m[k] = v
		}
	}
	for k, v := range e.Tags {
		if _, taken := m["tag."+k]; !taken {
			m["tag."+k] = v
		}
	}
	for k, v := range e.Metadata {
		if _, taken := m[k]; !taken {
			m[k] = v
		}
	}
	return templating.SanitizeOwnedMetadata(m)
}
