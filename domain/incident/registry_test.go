package incident_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
)

var (
	t0  = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ref = hook.Ref{Namespace: "apps", Name: "h"}
)

func crash(pod string) event.Event {
	return event.Event{Type: event.PodRestart, ResourceKind: "Pod", Namespace: "apps", ResourceName: pod, Message: "crashing"}
}

func named(k incident.Key, at time.Time) string { return incident.InvestigationName("h", "uid", k, at) }

func TestAnIncidentLivesFromItsFirstMembersFiringUntilItsLastResolves(t *testing.T) {
	r := incident.NewRegistry()
	e := crash("web-1")
	key := incident.KeyOf(e, hook.Grouping{By: hook.ByResource})
	inc, opened := r.Fire(ref, key, e.Key(), e, t0, incident.Opening{Name: named})
	if !opened || inc.Name != named(key, t0) || inc.MemberCount != 1 || r.OpenCount(ref) != 1 {
		t.Fatalf("first firing: %+v opened=%v, %d open", inc, opened, r.OpenCount(ref))
	}
	other := e
	other.Fingerprint = "second" // another member of the same key: joins
	if _, opened := r.Fire(ref, key, other.Key(), other, t0.Add(time.Minute), incident.Opening{Name: named}); opened {
		t.Fatal("a second member opened a second incident")
	}
	if _, closed, _ := r.Resolve(ref, e.Key(), event.Recovered, t0.Add(2*time.Minute)); closed {
		t.Fatal("the incident closed while a member still fires")
	}
	inc, closed, ok := r.Resolve(ref, other.Key(), event.Deleted, t0.Add(3*time.Minute))
	if !ok || !closed || !inc.Resolved || inc.Resolution != event.Deleted || r.OpenCount(ref) != 0 {
		t.Fatalf("after the last member resolved: %+v closed=%v", inc, closed)
	}
	again, opened := r.Fire(ref, key, e.Key(), e, t0.Add(time.Hour), incident.Opening{Name: named})
	if !opened || again.Name == inc.Name {
		t.Fatalf("the next firing of the subject: %+v opened=%v, want a new incident with a new investigation", again, opened)
	}
}

func TestAnIncidentNamesItsFirstMembersAndCountsThemAll(t *testing.T) {
	r := incident.NewRegistry()
	key := incident.Key{Type: event.PodRestart, Subject: incident.Subject{Kind: "Deployment", Namespace: "apps", Name: "web"}}
	for i := range 70 {
		e := crash(fmt.Sprintf("web-%02d", i))
		r.Fire(ref, key, e.Key(), e, t0, incident.Opening{Name: named})
	}
	inc, _ := r.Get(ref, key)
	if len(inc.Members) != incident.MaxMembers || inc.MemberCount != 70 || inc.Firing() != 70 {
		t.Fatalf("%d members named, %d counted, %d firing; want 50, 70, 70", len(inc.Members), inc.MemberCount, inc.Firing())
	}
}

func TestASuppressedIncidentIsCountedAndNotWalked(t *testing.T) {
	r := incident.NewRegistry()
	suppress := func(open int) incident.Suppression {
		if open >= 2 {
			return incident.Suppression{Reason: incident.Backlog, Message: "full"}
		}
		return incident.Suppression{}
	}
	for i := range 10 {
		e := crash(fmt.Sprintf("web-%d", i))
		r.Fire(ref, incident.KeyOf(e, hook.Grouping{By: hook.ByResource}), e.Key(), e, t0, incident.Opening{Name: named, Suppress: suppress})
	}
	live, suppressed := r.Live(ref)
	if len(live) != 2 || suppressed[incident.Backlog] != 8 || r.OpenCount(ref) != 2 {
		t.Fatalf("%d live, suppressed %v, %d open; want 2, 8 backlog, 2", len(live), suppressed, r.OpenCount(ref))
	}
}

func TestAnInvestigationsNameIsStableDistinctAndShort(t *testing.T) {
	key := incident.Key{Type: event.PodRestart, Subject: incident.Subject{Kind: "Pod", Namespace: "apps", Name: "web-1"}}
	long := strings.Repeat("a", 253)
	tests := []struct {
		name      string
		a, b      string
		wantEqual bool
	}{
		{"the same Hook, incident and start name one investigation", incident.InvestigationName("h", "uid", key, t0), incident.InvestigationName("h", "uid", key, t0), true},
		{"a Hook recreated under its name names another", incident.InvestigationName("h", "uid", key, t0), incident.InvestigationName("h", "uid2", key, t0), false},
		{"the next incident of the subject names another", incident.InvestigationName("h", "uid", key, t0), incident.InvestigationName("h", "uid", key, t0.Add(time.Second)), false},
		{"a Hook's name only prefixes it, cut: its UID tells Hooks apart", incident.InvestigationName(long, "uid", key, t0), incident.InvestigationName(long+"b", "uid", key, t0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.a == tt.b) != tt.wantEqual || len(tt.a) > 63 || strings.Trim(tt.a, "-.") != tt.a {
				t.Fatalf("names %q and %q", tt.a, tt.b)
			}
		})
	}
}
