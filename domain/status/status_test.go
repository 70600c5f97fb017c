package status_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/status"
	"github.com/khook-dev/khook/ports"
)

var (
	t0  = time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)
	ref = hook.Ref{Namespace: "apps", Name: "h"}
)

func entry(typ event.Type, name string, state dedup.State, notified time.Time) dedup.Entry {
	return dedup.Entry{Hook: ref, Key: event.Key{Type: typ, Namespace: "apps", ResourceName: name},
		State: state, FirstSeen: t0, LastSeen: t0.Add(time.Minute), NotifiedAt: notified, LastNotifiedAt: notified}
}

func TestActiveEvents(t *testing.T) {
	tests := []struct {
		name    string
		entries []dedup.Entry
		check   func(t *testing.T, got []ports.ActiveEvent)
	}{
		{"entries are ordered by type then resource whatever the input order", []dedup.Entry{
			entry(event.PodRestart, "b", dedup.Firing, time.Time{}),
			entry(event.OOMKill, "z", dedup.Firing, time.Time{}),
			entry(event.PodRestart, "a", dedup.Resolved, t0),
		}, func(t *testing.T, got []ports.ActiveEvent) {
			var keys []string
			for _, a := range got {
				keys = append(keys, a.EventType+"/"+a.ResourceName)
			}
			if want := "[oom-kill/z pod-restart/a pod-restart/b]"; fmt.Sprint(keys) != want {
				t.Fatalf("order = %v, want %v", keys, want)
			}
		}},
		{"times are cut to whole seconds as the API stores them", []dedup.Entry{entry(event.OOMKill, "x", dedup.Firing, t0)},
			func(t *testing.T, got []ports.ActiveEvent) {
				if got[0].FirstSeen.Nanosecond() != 0 || got[0].NotifiedAt.Nanosecond() != 0 {
					t.Fatalf("times keep sub-second parts: %+v", got[0])
				}
			}},
		{"an entry that was never notified has no notification time", []dedup.Entry{entry(event.OOMKill, "x", dedup.Firing, time.Time{})},
			func(t *testing.T, got []ports.ActiveEvent) {
				if !got[0].NotifiedAt.IsZero() || got[0].Status != "firing" {
					t.Fatalf("got %+v", got[0])
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, status.ActiveEvents(tt.entries)) })
	}
}

func TestStatusRoundTripsThroughEntriesWithoutChurn(t *testing.T) {
	first := status.ActiveEvents([]dedup.Entry{entry(event.OOMKill, "x", dedup.Firing, t0), entry(event.PodRestart, "y", dedup.Resolved, t0)})
	again := status.ActiveEvents(status.Entries(ref, first))
	if !status.EqualActiveEvents(first, again) {
		t.Fatalf("round trip changed the status:\n%+v\n%+v", first, again)
	}
	changed := append([]ports.ActiveEvent(nil), again...)
	changed[0].Status = "resolved"
	if status.EqualActiveEvents(first, changed) {
		t.Fatal("a changed status compares equal")
	}
}

func TestEntriesSkipsUnknownStatuses(t *testing.T) {
	got := status.Entries(ref, []ports.ActiveEvent{{EventType: "oom-kill", ResourceName: "x", Status: "weird"}})
	if len(got) != 0 {
		t.Fatalf("want no entries, got %+v", got)
	}
}

func TestAccepted(t *testing.T) {
	tests := []struct {
		name       string
		problems   []status.Problem
		wantStatus bool
		wantReason string
		wantMsg    string
	}{
		{"a hook without problems is accepted", nil, true, status.ReasonAccepted, "all event configurations are in use"},
		{"problems make it not accepted, naming each field", []status.Problem{
			{Reason: status.ReasonTemplateRefused, Field: "spec.eventConfigurations[0].prompt", Message: "define is not allowed"},
			{Reason: status.ReasonUnknownEventType, Field: "spec.eventConfigurations[2].eventType", Message: "no source"},
		}, false, status.ReasonTemplateRefused,
			"spec.eventConfigurations[0].prompt: define is not allowed; spec.eventConfigurations[2].eventType: no source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := status.Accepted(tt.problems)
			if c.Type != status.ConditionAccepted || c.Status != tt.wantStatus || c.Reason != tt.wantReason || c.Message != tt.wantMsg {
				t.Fatalf("Accepted = %+v", c)
			}
		})
	}
}
