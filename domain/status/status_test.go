package status_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
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
	f := delivery.Firing{Hook: ref, Key: e.Key, FirstSeen: e.FirstSeen}
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

func TestActivityShowsEachEntryWithItsLedger(t *testing.T) {
	web := entry(event.PodRestart, "web", dedup.Firing, time.Minute)
	tests := []struct {
		name    string
		entries []dedup.Entry
		records []delivery.Record
		check   func(t *testing.T, a ports.HookActivity)
	}{
		{"entries are ordered by type then resource whatever the input order", []dedup.Entry{
			entry(event.PodRestart, "b", dedup.Firing, 0), entry(event.OOMKill, "z", dedup.Firing, 0), entry(event.PodRestart, "a", dedup.Resolved, 0),
		}, nil, func(t *testing.T, a ports.HookActivity) {
			if got, want := keys(a), "oom-kill/z pod-restart/a pod-restart/b"; got != want {
				t.Fatalf("order = %s, want %s", got, want)
			}
		}},
		{"times are cut to whole seconds as the API stores them", []dedup.Entry{web}, []delivery.Record{record(web, agentA, delivery.Working, time.Second)},
			func(t *testing.T, a ports.HookActivity) {
				e := a.Events[0]
				if e.FirstSeen.Nanosecond() != 0 || e.NotifiedAt.Nanosecond() != 0 || e.Deliveries[0].SentAt.Nanosecond() != 0 {
					t.Fatalf("times keep sub-second parts: %+v", e)
				}
			}},
		{"a firing is notified once every agent accepted it", []dedup.Entry{web},
			[]delivery.Record{record(web, agentA, delivery.Completed, time.Second), record(web, agentB, delivery.Working, 3*time.Second)},
			func(t *testing.T, a ports.HookActivity) {
				e := a.Events[0]
				if !e.NotifiedAt.Equal(t0.Add(3*time.Second).Truncate(time.Second)) || !e.LastNotifiedAt.Equal(e.NotifiedAt) {
					t.Fatalf("notifiedAt %v lastNotifiedAt %v", e.NotifiedAt, e.LastNotifiedAt)
				}
			}},
		{"a firing one agent has not accepted is not notified", []dedup.Entry{web},
			[]delivery.Record{record(web, agentA, delivery.Completed, time.Second), record(web, agentB, delivery.Pending, 0)},
			func(t *testing.T, a ports.HookActivity) {
				if e := a.Events[0]; !e.NotifiedAt.IsZero() || e.LastNotifiedAt.IsZero() {
					t.Fatalf("notifiedAt %v lastNotifiedAt %v, want only the latter", e.NotifiedAt, e.LastNotifiedAt)
				}
			}},
		{"a firing keeps what a retry needs and a resolved entry says why it ended", []dedup.Entry{
			web, {Hook: ref, Key: event.Key{Type: event.OOMKill, Namespace: "apps", ResourceName: "db"}, State: dedup.Resolved,
				Resolution: event.Deleted, FirstSeen: t0, LastSeen: t0, ResolvedAt: t0.Add(time.Minute)},
		}, nil, func(t *testing.T, a ports.HookActivity) {
			resolved, firing := a.Events[0], a.Events[1]
			if resolved.Event != nil || resolved.ResolvedReason != "deleted" || resolved.ResolvedAt.IsZero() {
				t.Fatalf("resolved entry = %+v", resolved)
			}
			if firing.Event == nil || firing.Event.Message != "crashing" || firing.Event.Metadata["container"] != "app" || firing.Occurrences != 2 {
				t.Fatalf("firing entry = %+v", firing)
			}
		}},
		{"a long message and huge metadata are kept within bounds", []dedup.Entry{func() dedup.Entry {
			e := entry(event.PodRestart, "web", dedup.Firing, 0)
			e.LastEvent.Message = strings.Repeat("é", 5000)
			e.LastEvent.Metadata = map[string]string{}
			for i := range 100 {
				e.LastEvent.Metadata[fmt.Sprintf("label-%03d", i)] = strings.Repeat("v", 1000)
			}
			return e
		}()}, nil, func(t *testing.T, a ports.HookActivity) {
			s := a.Events[0].Event
			if len(s.Message) > status.MaxKeptMessage || !strings.HasSuffix(s.Message, "é") || len(s.Metadata) < 10 ||
				len(s.Metadata["label-000"]) != status.MaxKeptLabelValue {
				t.Fatalf("kept %d bytes of message, %d labels, %d bytes of a label", len(s.Message), len(s.Metadata), len(s.Metadata["label-000"]))
			}
			if n, err := json.Marshal(s); err != nil || len(n) > status.MaxKeptEventBytes {
				t.Fatalf("the kept event encodes to %d bytes, more than %d", len(n), status.MaxKeptEventBytes)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, status.Activity(tt.entries, tt.records, status.Limits{})) })
	}
}

func TestActivityStaysWithinItsLimitsInAStorm(t *testing.T) {
	var entries []dedup.Entry
	var records []delivery.Record
	for i := range 1000 {
		e := entry(event.PodRestart, fmt.Sprintf("pod-%04d", i), dedup.Firing, time.Duration(i)*time.Second)
		e.LastEvent.Message = strings.Repeat("x", 4000)
		entries = append(entries, e)
		state := delivery.Completed
		if i == 3 {
			state = delivery.Pending // an old firing still being delivered
		}
		records = append(records, record(e, agentA, state, time.Second))
	}
	for i := range 50 {
		entries = append(entries, entry(event.OOMKill, fmt.Sprintf("gone-%d", i), dedup.Resolved, time.Hour))
	}
	tests := []struct {
		name        string
		limits      status.Limits
		wantEvents  int
		wantOmitted int
	}{
		{"by default 200 entries are shown and the rest counted", status.Limits{}, 200, 850},
		{"a smaller byte budget drops kept events first, then entries", status.Limits{MaxEvents: 1000, MaxBytes: 200 * 1024}, -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := status.Activity(entries, records, tt.limits)
			if tt.wantEvents >= 0 && (len(a.Events) != tt.wantEvents || a.Omitted != tt.wantOmitted) {
				t.Fatalf("%d events shown, %d omitted; want %d and %d", len(a.Events), a.Omitted, tt.wantEvents, tt.wantOmitted)
			}
			if len(a.Events)+a.Omitted != len(entries) {
				t.Fatalf("%d shown + %d omitted != %d held", len(a.Events), a.Omitted, len(entries))
			}
			kept := status.Kept(a)
			if !kept[event.Key{Type: event.PodRestart, Namespace: "apps", ResourceName: "pod-0003"}] {
				t.Fatal("the firing whose delivery is under way was left out")
			}
			if kept[event.Key{Type: event.OOMKill, Namespace: "apps", ResourceName: "gone-0"}] {
				t.Fatal("a resolved entry was shown while firing ones were left out")
			}
			size := 0
			for _, e := range a.Events {
				size += len(e.ResourceName) + 300
				if e.Event != nil {
					size += len(e.Event.Message)
				}
			}
			if max := tt.limits.MaxBytes; max > 0 && size > max {
				t.Fatalf("about %d bytes shown, over the budget of %d", size, max)
			}
		})
	}
}

// A send waiting for its intent is released only by a write that keeps its entry, and a task at
// work is followed after a restart only if its entry was written: the caps never cut those.
func TestTheCapsNeverCutAnEntryWhoseDeliveryIsBeingSentOrAtWork(t *testing.T) {
	storm := func(n int, state delivery.State, lastSeen time.Duration, message int) ([]dedup.Entry, []delivery.Record) {
		var entries []dedup.Entry
		var records []delivery.Record
		for i := range n {
			e := entry(event.PodRestart, fmt.Sprintf("%s-%03d", state, i), dedup.Firing, lastSeen+time.Duration(i)*time.Second)
			e.LastEvent.Message = strings.Repeat("x", message)
			entries = append(entries, e)
			records = append(records, record(e, agentA, state, 0))
		}
		return entries, records
	}
	tests := []struct {
		name   string
		limits status.Limits
		// under way are the entries that must be kept; others compete for the rest.
		underWay, others func() ([]dedup.Entry, []delivery.Record)
	}{
		{"newer pending firings do not push out an older one whose send waits for its intent", status.Limits{MaxEvents: 10},
			func() ([]dedup.Entry, []delivery.Record) { return storm(1, delivery.Sending, 0, 10) },
			func() ([]dedup.Entry, []delivery.Record) { return storm(30, delivery.Pending, time.Hour, 10) }},
		{"more sends under way than the cap are all kept", status.Limits{MaxEvents: 10},
			func() ([]dedup.Entry, []delivery.Record) { return storm(12, delivery.Sending, 0, 10) },
			func() ([]dedup.Entry, []delivery.Record) { return storm(30, delivery.Completed, time.Hour, 10) }},
		{"more tasks at work than the cap are all kept", status.Limits{MaxEvents: 10},
			func() ([]dedup.Entry, []delivery.Record) { return storm(12, delivery.Working, 0, 10) },
			func() ([]dedup.Entry, []delivery.Record) { return storm(30, delivery.Pending, time.Hour, 10) }},
		{"a resolved firing whose task is still followed is kept", status.Limits{MaxEvents: 10},
			func() ([]dedup.Entry, []delivery.Record) {
				e, r := storm(1, delivery.Working, 0, 10)
				e[0].State, e[0].Resolution, e[0].ResolvedAt = dedup.Resolved, event.Recovered, t0
				return e, r
			},
			func() ([]dedup.Entry, []delivery.Record) { return storm(30, delivery.Completed, time.Hour, 10) }},
		{"the byte budget drops their kept events but not the entries", status.Limits{MaxBytes: 8 * 1024},
			func() ([]dedup.Entry, []delivery.Record) { return storm(8, delivery.Submitted, 0, 4000) },
			func() ([]dedup.Entry, []delivery.Record) { return storm(30, delivery.Pending, time.Hour, 4000) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustEntries, mustRecords := tt.underWay()
			entries, records := tt.others()
			a := status.Activity(append(entries, mustEntries...), append(records, mustRecords...), tt.limits)
			kept := status.Kept(a)
			for _, e := range mustEntries {
				if !kept[e.Key] {
					t.Fatalf("%s was cut (%d shown, %d omitted)", e.Key.ResourceName, len(a.Events), a.Omitted)
				}
			}
			if len(a.Events)+a.Omitted != len(entries)+len(mustEntries) {
				t.Fatalf("%d shown + %d omitted != %d held", len(a.Events), a.Omitted, len(entries)+len(mustEntries))
			}
			if a.Omitted == 0 {
				t.Fatal("nothing was cut: the case does not test the cap")
			}
		})
	}
}

func TestRestoreGivesBackWhatActivityShowed(t *testing.T) {
	web := entry(event.PodRestart, "web", dedup.Firing, time.Minute)
	web.FirstSeen, web.LastSeen, web.LastEvent.Timestamp = t0.Truncate(time.Second), t0.Add(time.Minute).Truncate(time.Second), t0.Truncate(time.Second)
	db := dedup.Entry{Hook: ref, Key: event.Key{Type: event.OOMKill, Namespace: "apps", ResourceName: "db", Fingerprint: "f1"}, State: dedup.Resolved,
		Resolution: event.Recovered, FirstSeen: web.FirstSeen, LastSeen: web.FirstSeen, ResolvedAt: web.LastSeen, Occurrences: 1}
	told := record(web, agentA, delivery.Working, 2*time.Second)
	told.SentAt, told.UpdatedAt, told.ContextID, told.Summary = told.SentAt.Truncate(time.Second), web.LastSeen, "session-1", "looking"
	due := record(web, agentB, delivery.Pending, 0)
	due.LastError, due.NextAt, due.UpdatedAt = "503", web.LastSeen.Add(30*time.Second), web.LastSeen

	got := status.Restore(ref, status.Activity([]dedup.Entry{web, db}, []delivery.Record{told, due}, status.Limits{}).Events)

	wantWeb := web
	wantWeb.LastEvent.Fingerprint = ""
	db.LastEvent = event.Event{}
	if !reflect.DeepEqual(got.Entries, []dedup.Entry{db, wantWeb}) {
		t.Fatalf("entries:\n got %+v\nwant %+v", got.Entries, []dedup.Entry{db, wantWeb})
	}
	told.Resource = ports.ResourceRef{Kind: "Pod", Namespace: "apps", Name: "web"}
	due.Resource = told.Resource
	if !reflect.DeepEqual(got.Records, []delivery.Record{told, due}) {
		t.Fatalf("records:\n got %+v\nwant %+v", got.Records, []delivery.Record{told, due})
	}
}

func TestAStatusFromBeforeTheLedgerDoesNotTellAgentsAgain(t *testing.T) {
	got := status.Restore(ref, []ports.ActiveEvent{
		{EventType: "pod-restart", Namespace: "apps", ResourceName: "web", Status: "firing", FirstSeen: t0, LastSeen: t0, NotifiedAt: t0},
		{EventType: "pod-restart", Namespace: "apps", ResourceName: "db", Status: "firing", FirstSeen: t0, LastSeen: t0},
		{EventType: "pod-restart", Namespace: "apps", ResourceName: "odd", Status: "exploded", FirstSeen: t0, LastSeen: t0},
	})
	if len(got.Entries) != 2 || len(got.ToldBeforeLedger) != 1 || got.ToldBeforeLedger[0].ResourceName != "web" {
		t.Fatalf("restored %+v", got)
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
