package investigation_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
	"github.com/khook-dev/khook/domain/investigation"
)

var (
	t0     = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ref    = hook.Ref{Namespace: "apps", Name: "h"}
	agentA = hook.AgentRef{Namespace: "kagent", Name: "a"}
	agentB = hook.AgentRef{Namespace: "kagent", Name: "b"}
)

func anIncident() incident.Incident {
	e := event.Event{Type: event.PodRestart, ResourceKind: "Pod", Namespace: "apps", ResourceName: "web-1", Reason: "BackOff", Message: "crashing",
		Timestamp: t0, Source: "kubernetes", Metadata: map[string]string{"container": "app"},
		Workload: event.Workload{Kind: "Deployment", Name: "web"}, Node: "node-1", Labels: map[string]string{"app": "web", "tier": "critical"}}
	key := incident.KeyOf(e, hook.Grouping{By: hook.ByResource})
	return incident.Incident{Key: key, Name: incident.InvestigationName("h", "uid", key, t0), StartedAt: t0, First: e, Members: []event.Key{e.Key()},
		MemberCount: 1, LastSeen: t0}
}

func rec(inc incident.Incident, agent hook.AgentRef, state delivery.State) delivery.Record {
	f := delivery.Firing{Hook: ref, HookUID: "uid", Key: inc.Key, FirstSeen: inc.StartedAt}
	return delivery.Record{Firing: f, Agent: agent, MessageID: delivery.MessageID(f, agent), State: state, Attempts: 1}
}

func TestThePhaseSumsUpTheAgents(t *testing.T) {
	open, over := anIncident(), anIncident()
	over.Resolved = true
	suppressed := anIncident()
	suppressed.Suppressed = incident.Suppression{Reason: "backlog"}
	tests := []struct {
		name   string
		inc    incident.Incident
		states []delivery.State
		want   investigation.Phase
	}{
		{"one agent at work makes it working", open, []delivery.State{delivery.Completed, delivery.Working}, investigation.Working},
		{"an agent that needs a person makes it input-required", open, []delivery.State{delivery.Completed, delivery.InputRequired}, investigation.InputRequired},
		{"an agent still to be told makes it pending", open, []delivery.State{delivery.Completed, delivery.Pending}, investigation.Pending},
		{"no agent yet makes it pending", open, nil, investigation.Pending},
		{"one agent that completed makes it completed", open, []delivery.State{delivery.Failed, delivery.Completed}, investigation.Completed},
		{"a lost task makes it lost", open, []delivery.State{delivery.Lost}, investigation.Lost},
		{"failures alone make it failed", open, []delivery.State{delivery.Failed, delivery.Undeliverable}, investigation.Failed},
		{"trouble that ended before anyone was told makes it resolved", over, []delivery.State{delivery.Abandoned}, investigation.Resolved},
		{"a suppressed incident is suppressed whatever its records", suppressed, nil, investigation.Suppressed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var records []delivery.Record
			for i, s := range tt.states {
				records = append(records, rec(tt.inc, hook.AgentRef{Namespace: "kagent", Name: fmt.Sprint(i)}, s))
			}
			if got := investigation.PhaseOf(tt.inc, records); got != tt.want {
				t.Fatalf("PhaseOf = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestAnInvestigationReadBackIsTheIncidentAndRecordsItWasWrittenFrom(t *testing.T) {
	inc := anIncident()
	inc.Resolved, inc.ResolvedAt, inc.Resolution = true, t0.Add(time.Hour), event.Recovered
	inc.Started = true // its agents were told
	a, b := rec(inc, agentA, delivery.Completed), rec(inc, agentB, delivery.Undeliverable)
	a.TaskID, a.SentAt, a.Summary, a.UpdatedAt = "t-a", t0.Add(time.Second), "found it", t0.Add(time.Minute)
	b.Cause, b.LastError, b.UpdatedAt = delivery.CauseAgentNotFound, "HTTP 404", t0.Add(time.Minute)
	inv := investigation.View(ref, "uid", hook.ByResource, inc, []delivery.Record{a, b})
	gotInc, gotRecords := investigation.Read(inv)
	gotInc.First.Metadata, inc.First.Metadata = nil, nil // kept in the snapshot, compared apart
	if !reflect.DeepEqual(gotInc, inc) {
		t.Fatalf("incident read back\n%+v\nwant\n%+v", gotInc, inc)
	}
	for i, want := range []delivery.Record{a, b} {
		want.Resource = gotRecords[i].Resource
		if !reflect.DeepEqual(gotRecords[i], want) {
			t.Fatalf("record %d read back\n%+v\nwant\n%+v", i, gotRecords[i], want)
		}
	}
	if investigation.Agents(inv) != "kagent/a, kagent/b" || investigation.Summary(inv) != "found it" {
		t.Fatalf("agents %q, summary %q", investigation.Agents(inv), investigation.Summary(inv))
	}
}

func TestAnIncidentOpenedWithoutItsEventsDetailsIsWrittenWithoutAndReadBackPartial(t *testing.T) {
	inc := anIncident()
	inc.Partial = true
	inv := investigation.View(ref, "uid", hook.ByResource, inc, nil)
	if inv.Event != nil {
		t.Fatalf("a partial event was written as if it were whole: %+v", inv.Event)
	}
	if got, _ := investigation.Read(inv); !got.Partial {
		t.Fatal("read back as whole")
	}
}

func TestWhatAnInvestigationKeepsOfItsEventIsBounded(t *testing.T) {
	inc := anIncident()
	inc.First.Message = strings.Repeat("<&>", 5000)
	inc.First.Metadata = map[string]string{}
	for i := range 100 {
		inc.First.Metadata[fmt.Sprintf("label-%03d", i)] = strings.Repeat(">", 1000)
	}
	s := investigation.View(ref, "uid", hook.ByResource, inc, nil).Event
	encoded, _ := json.Marshal(s)
	if len(s.Message) > investigation.MaxKeptMessage || len(encoded) > investigation.MaxKeptEventBytes || len(s.Metadata) == 0 {
		t.Fatalf("kept %d bytes of message, %d labels, %d bytes encoded", len(s.Message), len(s.Metadata), len(encoded))
	}
}

func TestRetentionRemovesTheOldAndThoseBeyondTheNewestKept(t *testing.T) {
	var done []investigation.Done
	for i := range 6 {
		done = append(done, investigation.Done{Name: fmt.Sprintf("inv-%d", i), EndedAt: t0.Add(time.Duration(i) * time.Hour)})
	}
	tests := []struct {
		name string
		now  time.Time
		keep int
		want string
	}{
		{"none expired and few enough: nothing goes", t0.Add(6 * time.Hour), 10, "[]"},
		{"beyond the newest kept, the oldest go", t0.Add(6 * time.Hour), 4, "[inv-1 inv-0]"},
		{"older than the retention, they go", t0.Add(24*time.Hour + 2*time.Hour), 10, "[inv-2 inv-1 inv-0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmt.Sprint(investigation.Expired(done, tt.now, 24*time.Hour, tt.keep)); got != tt.want {
				t.Fatalf("Expired = %s, want %s", got, tt.want)
			}
		})
	}
}
