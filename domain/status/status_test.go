package status_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
	"github.com/khook-dev/khook/domain/status"
	"github.com/khook-dev/khook/ports"
)

var (
	t0     = time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)
	ref    = hook.Ref{Namespace: "apps", Name: "h"}
	agentA = hook.AgentRef{Namespace: "kagent", Name: "a"}
	agentB = hook.AgentRef{Namespace: "kagent", Name: "b"}
)

func entry(typ event.Type, name string, state dedup.State, lastSeen time.Duration) dedup.Entry {
	key := event.Key{Type: typ, Namespace: "apps", ResourceName: name}
	return dedup.Entry{Hook: ref, Key: key, State: state, FirstSeen: t0, LastSeen: t0.Add(lastSeen), Occurrences: 2,
		LastEvent: event.Event{Type: typ, Namespace: "apps", ResourceName: name, ResourceKind: "Pod", Reason: "BackOff", Message: "crashing",
			Timestamp: t0, Source: "kubernetes", Metadata: map[string]string{"container": "app"}}}
}

func record(e dedup.Entry, agent hook.AgentRef, state delivery.State, sentAt time.Duration) delivery.Record {
	f := delivery.Firing{Hook: ref, Key: incident.KeyOf(e.LastEvent, hook.Grouping{By: hook.ByResource}), FirstSeen: e.FirstSeen}
	r := delivery.Record{Firing: f, Agent: agent, MessageID: delivery.MessageID(f, agent), State: state, Attempts: 1}
	if sentAt > 0 {
		r.SentAt, r.TaskID = t0.Add(sentAt), "task-"+agent.Name
	}
	return r
}

func keys(a ports.HookActivity) string {
	var out []string
	for _, e := range a.Events {
		out = append(out, e.EventType+"/"+e.ResourceName)
	}
	return strings.Join(out, " ")
}

func TestTheSummaryShowsTheMostInterestingEntriesAndCountsTheRest(t *testing.T) {
	var entries []dedup.Entry
	for i := range 30 {
		entries = append(entries, entry(event.PodRestart, fmt.Sprintf("firing-%02d", i), dedup.Firing, time.Duration(i)*time.Second))
	}
	for i := range 30 {
		entries = append(entries, entry(event.OOMKill, fmt.Sprintf("resolved-%02d", i), dedup.Resolved, time.Hour))
	}
	notified := func(k event.Key) status.Notified {
		return status.Notified{Investigation: "inv-" + k.ResourceName, NotifiedAt: t0, LastNotifiedAt: t0}
	}
	counts := ports.InvestigationCounts{Working: 3, Suppressed: 2, SuppressedBy: map[string]int{"backlog": 2}}
	a := status.Summary(entries, notified, 30, 60_000, counts, status.Limits{MaxEvents: 40})
	if len(a.Events) != 40 || a.Omitted != 60_000-40 || a.Firing != 30 || a.Investigations.Working != 3 || a.Investigations.SuppressedBy["backlog"] != 2 {
		t.Fatalf("summary of %d events, %d omitted, %d firing, counts %+v", len(a.Events), a.Omitted, a.Firing, a.Investigations)
	}
	firing := 0
	for _, e := range a.Events {
		if e.Status == "firing" {
			firing++
		}
		if e.Investigation != "inv-"+e.ResourceName || !e.NotifiedAt.Equal(t0.Truncate(time.Second)) {
			t.Fatalf("entry %+v does not name its investigation and when it was told", e)
		}
	}
	if firing != 30 {
		t.Fatalf("%d firing entries shown, want all 30 before the resolved ones", firing)
	}
	if !sort.SliceIsSorted(a.Events, func(i, j int) bool {
		return keys(ports.HookActivity{Events: a.Events[i : i+1]}) < keys(ports.HookActivity{Events: a.Events[j : j+1]})
	}) {
		t.Fatalf("entries are not ordered by key: %s", keys(a))
	}
}

// Whatever the storm, the status of a Hook is a summary well under 64 KiB: its encoded entries
// stay within the byte budget even when every name is as long as Kubernetes allows.
func TestTheSummaryStaysWithinItsByteBudget(t *testing.T) {
	var entries []dedup.Entry
	for i := range 200 {
		e := entry(event.PodRestart, fmt.Sprintf("%0253d", i), dedup.Firing, 0)
		e.Key.Fingerprint = strings.Repeat("<", 128)
		entries = append(entries, e)
	}
	a := status.Summary(entries, func(event.Key) status.Notified { return status.Notified{Investigation: strings.Repeat("i", 63)} }, 200, 200,
		ports.InvestigationCounts{}, status.Limits{})
	encoded, _ := json.Marshal(a.Events)
	if len(a.Events) == 0 || len(encoded) > status.DefaultMaxBytes || a.Omitted != 200-len(a.Events) {
		t.Fatalf("%d entries, %d bytes encoded (budget %d), %d omitted", len(a.Events), len(encoded), status.DefaultMaxBytes, a.Omitted)
	}
}

// A status written by the previous release kept each firing's ledger and event on the Hook:
// reading it gives back the entries, and one incident per firing with its records, named as
// this release names investigations, so that the upgrade tells nobody again.
func TestAStatusOfThePreviousReleaseIsReadBackIntoIncidentsAndRecords(t *testing.T) {
	h := hook.Hook{Ref: ref, UID: "uid-h"}
	active := []ports.ActiveEvent{
		{EventType: "pod-restart", Namespace: "apps", ResourceName: "web", Status: "firing", FirstSeen: t0, LastSeen: t0, Occurrences: 3,
			Event: &ports.EventSnapshot{ResourceKind: "Pod", Reason: "BackOff", Message: "crashing", Timestamp: t0},
			Deliveries: []ports.Delivery{
				{Agent: "kagent/a", MessageID: "m-a", TaskID: "t-a", State: "working", Attempts: 1, SentAt: t0},
				{Agent: "kagent/b", MessageID: "m-b", State: "undeliverable", LastError: "refused: HTTP 401", Attempts: 1},
			}},
		{EventType: "oom-kill", Namespace: "apps", ResourceName: "db", Status: "resolved", FirstSeen: t0, LastSeen: t0, ResolvedReason: "deleted"},
	}
	got := status.Restore(h, active)
	if len(got.Entries) != 2 || len(got.Incidents) != 1 || len(got.Records) != 2 {
		t.Fatalf("restored %d entries, %d incidents, %d records; want 2, 1, 2", len(got.Entries), len(got.Incidents), len(got.Records))
	}
	inc := got.Incidents[0]
	if inc.Key.Subject != (incident.Subject{Kind: "Pod", Namespace: "apps", Name: "web"}) || inc.Name != incident.InvestigationName("h", "uid-h", inc.Key, t0) || inc.Partial {
		t.Fatalf("incident %+v", inc)
	}
	b := got.Records[1]
	if b.Cause != delivery.CauseAgentRefused || b.LastError != "HTTP 401" || b.HookUID != "uid-h" || b.Key != inc.Key {
		t.Fatalf("record %+v: want the previous release's prefix read as a cause", b)
	}
}

func TestDeliveringNamesEachAgentThatCannotBeToldAndWhy(t *testing.T) {
	web := entry(event.PodRestart, "web", dedup.Firing, 0)
	with := func(agent hook.AgentRef, state delivery.State, why string, cause ...delivery.Cause) delivery.Record {
		r := record(web, agent, state, 0)
		r.LastError = why
		if len(cause) > 0 {
			r.Cause = cause[0]
		}
		return r
	}
	tests := []struct {
		name       string
		records    []delivery.Record
		wantStatus bool
		wantReason string
		wantText   string
	}{
		{"a ledger of deliveries under way or done is delivering", []delivery.Record{with(agentA, delivery.Working, ""), with(agentB, delivery.Pending, "503")},
			true, status.ReasonDelivering, "every firing"},
		{"an agent that does not exist is named", []delivery.Record{with(agentA, delivery.Undeliverable, "agent card: HTTP 404", delivery.CauseAgentNotFound)},
			false, status.ReasonAgentNotFound, "agent kagent/a (1 firing): agent card: HTTP 404"},
		{"an agent that refused for good is named", []delivery.Record{with(agentA, delivery.Undeliverable, "HTTP 401", delivery.CauseAgentRefused)},
			false, status.ReasonAgentRefused, "agent kagent/a (1 firing): HTTP 401"},
		{"a prompt that cannot be rendered is named", []delivery.Record{with(agentB, delivery.Undeliverable, "prompt:1:3: step budget exceeded", delivery.CausePrompt)},
			false, status.ReasonPromptFailed, "agent kagent/b (1 firing): prompt:1:3"},
		{"retries used up are named", []delivery.Record{with(agentA, delivery.Undeliverable, "dial tcp: connection refused", delivery.CauseRetriesExhausted)},
			false, status.ReasonRetriesExhausted, "agent kagent/a (1 firing): dial tcp"},
		{"an investigation the agent ran and failed is an outcome, not a delivery problem", []delivery.Record{with(agentA, delivery.Failed, "overloaded")},
			true, status.ReasonDelivering, "every firing"},
		{"a firing that ended before its agent could be told is not undeliverable", []delivery.Record{with(agentA, delivery.Abandoned, "HTTP 503", delivery.CauseFiringOver)},
			true, status.ReasonDelivering, "every firing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := status.Delivering(tt.records)
			if c.Type != status.ConditionDelivering || c.Status != tt.wantStatus || c.Reason != tt.wantReason || !strings.Contains(c.Message, tt.wantText) {
				t.Fatalf("condition = %+v, want %v %s with %q", c, tt.wantStatus, tt.wantReason, tt.wantText)
			}
		})
	}
}

func TestAnAcceptedConditionListingManyRefusalsFitsTheAPIsLimit(t *testing.T) {
	var problems []status.Problem
	for i := range 50 {
		problems = append(problems, status.Problem{Reason: status.ReasonTemplateRefused, Field: fmt.Sprintf("spec.eventConfigurations[%d].prompt", i),
			Message: strings.Repeat("template: prompt:1: unexpected \"}\" in operand; ", 40)})
	}
	c := status.Accepted(problems)
	if n := utf8.RuneCountInString(c.Message); n > status.MaxConditionMessage || n < status.MaxConditionMessage-100 {
		t.Fatalf("message of %d characters, want it cut to at most %d (and not much less)", n, status.MaxConditionMessage)
	}
}

func TestAccepted(t *testing.T) {
	if c := status.Accepted(nil); !c.Status || c.Reason != status.ReasonAccepted {
		t.Fatalf("no problems: %+v", c)
	}
	c := status.Accepted([]status.Problem{
		{Reason: status.ReasonTemplateRefused, Field: "spec.eventConfigurations[0].prompt", Message: "bad"},
		{Reason: status.ReasonUnknownEventType, Field: "spec.eventConfigurations[1].eventType", Message: "unknown"},
	})
	if c.Status || c.Reason != status.ReasonTemplateRefused || c.Message != "spec.eventConfigurations[0].prompt: bad; spec.eventConfigurations[1].eventType: unknown" {
		t.Fatalf("problems: %+v", c)
	}
}
