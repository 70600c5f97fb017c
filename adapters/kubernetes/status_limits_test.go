package kubernetes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/adapters/kubernetes"
	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
	"github.com/khook-dev/khook/domain/investigation"
	khookstatus "github.com/khook-dev/khook/domain/status"
	"github.com/khook-dev/khook/ports"
)

// hostile is an event whose every value a tenant or a source chose to be as costly as the
// sources let it be: long, and made of characters JSON spells in six bytes.
func hostile(i int) event.Event {
	e := event.Event{Type: "alert-firing", ResourceKind: "Alert", Namespace: "apps", ResourceName: fmt.Sprintf("alert-%03d", i),
		Reason: strings.Repeat("<", 600), Message: strings.Repeat("<&>", 3000), Timestamp: t0, Source: "alertmanager",
		Fingerprint: strings.Repeat("f", 300) + fmt.Sprint(i), SourceType: strings.Repeat("\u2028", 300), Severity: strings.Repeat("&", 600),
		Description: strings.Repeat("\x01", 600), Metadata: map[string]string{}, Tags: map[string]string{}}
	labels := map[string]string{}
	for k := range 80 {
		e.Metadata[fmt.Sprintf("label-%02d-%s", k, strings.Repeat("<", 500))] = strings.Repeat(">", 600)
		e.Tags[fmt.Sprintf("tag-%02d", k)] = strings.Repeat("&", 600)
		labels[fmt.Sprintf("example.com/%s-%02d", strings.Repeat("l", 58), k)] = strings.Repeat("v", 63)
	}
	e.Labels = event.BoundedLabels(labels) // as a source bounds them
	e.Workload, e.Node = event.Workload{Kind: strings.Repeat("<", 600), Name: strings.Repeat("w", 253)}, strings.Repeat("n", 253)
	return e.WithKeyBounded() // as the pipeline takes it
}

// Whatever the values, the status and the investigations khook computes are ones the API server
// takes: no value past the CRD's limits, and a Hook's status well under 64 KiB, however many
// hostile entries it summarises.
func TestHostileValuesNeverMakeAHooksStatusOrAnInvestigationUnwritable(t *testing.T) {
	ns := newNamespace(t)
	h := &v1alpha2.Hook{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alerts"}, Spec: v1alpha2.HookSpec{EventConfigurations: []v1alpha2.EventConfiguration{
		{EventType: "alert-firing", AgentRef: &v1alpha2.AgentReference{Name: "a", Namespace: "kagent"}, Prompt: "{{.Message}}"}}}}
	if err := k8s.Create(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	ref := hook.Ref{Namespace: ns, Name: "alerts"}
	var entries []dedup.Entry
	for i := range 200 {
		e := hostile(i)
		entries = append(entries, dedup.Entry{Hook: ref, Key: e.Key(), State: dedup.Firing, FirstSeen: t0, LastSeen: t0.Add(time.Duration(i) * time.Second),
			Occurrences: 3, LastEvent: e})
	}
	notified := func(k event.Key) khookstatus.Notified {
		return khookstatus.Notified{Investigation: strings.Repeat("i", 63), NotifiedAt: t0, LastNotifiedAt: t0}
	}
	a := khookstatus.Summary(entries, notified, 200, 60_000, ports.InvestigationCounts{Working: 5, Suppressed: 7, SuppressedBy: map[string]int{"backlog": 7}}, khookstatus.Limits{})
	w := &kubernetes.StatusWriter{Client: k8s, Reader: k8s, Clock: clock.RealClock{}}
	if err := w.WriteActivity(context.Background(), ref, a); err != nil {
		t.Fatalf("the API server refused the status summary: %v", err)
	}
	var problems []khookstatus.Problem
	for i := range 50 {
		problems = append(problems, khookstatus.Problem{Reason: khookstatus.ReasonTemplateRefused, Field: fmt.Sprintf("spec.eventConfigurations[%d].prompt", i),
			Message: strings.Repeat("template: prompt:1: unexpected <> in operand; ", 40)})
	}
	if err := w.WriteConditions(context.Background(), ref, 1, []ports.Condition{khookstatus.Accepted(problems)}); err != nil {
		t.Fatalf("the API server refused a long Accepted condition: %v", err)
	}
	var got v1alpha2.Hook
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "alerts"}, &got); err != nil {
		t.Fatal(err)
	}
	encoded, _ := json.Marshal(got.Status)
	t.Logf("the Hook's status: %d events, %d omitted, %d bytes encoded", len(got.Status.ActiveEvents), got.Status.OmittedEvents, len(encoded))
	if len(got.Status.ActiveEvents) == 0 || len(got.Status.Conditions) == 0 || len(encoded) > 64*1024 {
		t.Fatalf("status of %d bytes with %d events and %d conditions, want both and under 64 KiB", len(encoded), len(got.Status.ActiveEvents), len(got.Status.Conditions))
	}

	// One investigation of the worst kind: its event hostile, fifty agents' answers hostile too.
	e := hostile(0)
	inc := incident.Incident{Key: incident.KeyOf(e, hook.Grouping{By: hook.ByResource}), StartedAt: t0, First: e, Members: []event.Key{e.Key()}, MemberCount: 1, LastSeen: t0}
	inc.Name = incident.InvestigationName(h.Name, string(h.UID), inc.Key, t0)
	var records []delivery.Record
	for i := range 50 {
		r := delivery.Record{Firing: delivery.Firing{Hook: ref, Key: inc.Key, FirstSeen: t0}, Agent: hook.AgentRef{Namespace: "kagent", Name: fmt.Sprintf("a%02d", i)},
			MessageID: strings.Repeat("m", 40), State: delivery.Completed, Summary: strings.Repeat("<", 2000), LastError: strings.Repeat("&", 2000),
			Cause: delivery.CauseAwaitingEvent}
		r.Prompt, r.PromptSHA256 = strings.Repeat("\u2028", delivery.MaxKeptPrompt/3), strings.Repeat("f", 64)
		records = append(records, r)
	}
	store := &kubernetes.InvestigationStore{Client: k8s, Reader: k8s}
	inv := investigation.View(ref, string(h.UID), hook.ByResource, inc, records)
	v, err := store.Save(context.Background(), inv)
	if err != nil {
		t.Fatalf("the API server refused the investigation: %v", err)
	}
	inv.Version = v
	if _, err := store.Save(context.Background(), inv); err != nil {
		t.Fatalf("the API server refused the investigation's second write: %v", err)
	}
	back, found, err := store.Get(context.Background(), ref, inv.Name)
	if err != nil || !found || back.Event == nil {
		t.Fatalf("reading the investigation back: %v (found %v)", err, found)
	}
	// The labels come last in the snapshot's budget (prompts read metadata and tags): a hostile
	// event's fill it; whatever was kept is read back.
	if s := back.Event; s.WorkloadName != e.Workload.Name || s.Node != e.Node || !maps.Equal(s.Labels, inv.Event.Labels) {
		t.Fatalf("the investigation kept workload %q, node %q and %d labels of its event; want them as written", s.WorkloadName, s.Node, len(s.Labels))
	}
}
