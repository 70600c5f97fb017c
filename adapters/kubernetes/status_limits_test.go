package kubernetes_test

import (
	"context"
	"encoding/json"
	"fmt"
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
	for k := range 80 {
		e.Metadata[fmt.Sprintf("label-%02d-%s", k, strings.Repeat("<", 500))] = strings.Repeat(">", 600)
		e.Tags[fmt.Sprintf("tag-%02d", k)] = strings.Repeat("&", 600)
	}
	return e.WithKeyBounded() // as the pipeline takes it
}

// Whatever the values, and whatever cap a too-large refusal halved the status to, the status
// khook computes is one the API server takes: no value past the CRD's limits, no size past the
// object limit, the ten-entry floor included.
func TestHostileValuesNeverMakeAHooksStatusUnwritable(t *testing.T) {
	ns := newNamespace(t)
	h := &v1alpha2.Hook{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alerts"}, Spec: v1alpha2.HookSpec{EventConfigurations: []v1alpha2.EventConfiguration{
		{EventType: "alert-firing", AgentRef: &v1alpha2.AgentReference{Name: "a", Namespace: "kagent"}, Prompt: "{{.Message}}"}}}}
	if err := k8s.Create(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	ref := hook.Ref{Namespace: ns, Name: "alerts"}
	agent := hook.AgentRef{Namespace: "kagent", Name: "a"}
	var entries []dedup.Entry
	var records []delivery.Record
	for i := range 200 {
		e := hostile(i)
		entries = append(entries, dedup.Entry{Hook: ref, Key: e.Key(), State: dedup.Firing, FirstSeen: t0, LastSeen: t0.Add(time.Duration(i) * time.Second),
			Occurrences: 3, LastEvent: e})
		state := delivery.Pending
		if i%20 == 0 {
			state = delivery.Working // a few at work: never cut by the cap
		}
		records = append(records, delivery.Record{Firing: delivery.Firing{Hook: ref, Key: e.Key(), FirstSeen: t0}, Agent: agent, MessageID: "m",
			State: state, Summary: strings.Repeat("<", 2000), LastError: strings.Repeat("&", 2000), Cause: delivery.CauseAwaitingEvent})
	}
	w := &kubernetes.StatusWriter{Client: k8s, Reader: k8s, Clock: clock.RealClock{}}
	for _, limits := range []khookstatus.Limits{{}, {MaxEvents: 10}} {
		a := khookstatus.Activity(entries, records, limits)
		encoded, _ := json.Marshal(a)
		t.Logf("cap %d: %d events, %d omitted, %d bytes encoded", limits.MaxEvents, len(a.Events), a.Omitted, len(encoded))
		if err := w.WriteActivity(context.Background(), ref, a); err != nil {
			t.Fatalf("with a cap of %d entries the API server refused the status: %v", limits.MaxEvents, err)
		}
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
	if len(got.Status.ActiveEvents) == 0 || len(got.Status.Conditions) == 0 {
		t.Fatalf("status written without its events or condition: %d events, %d conditions", len(got.Status.ActiveEvents), len(got.Status.Conditions))
	}
}
