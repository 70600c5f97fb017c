package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/pipeline"
	"github.com/khook-dev/khook/ports"
	"github.com/khook-dev/khook/ports/portstest"
)

// fakeNodes answers what a test says of each Node; a Node it was told nothing of is unknown.
type fakeNodes struct {
	mu     sync.Mutex
	states map[string]ports.NodeState
}

func (n *fakeNodes) State(name string) ports.NodeState {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.states[name]
}

func (n *fakeNodes) set(name string, ready bool, since time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.states == nil {
		n.states = map[string]ports.NodeState{}
	}
	n.states[name] = ports.NodeState{Known: true, Ready: ready, Since: since, Reason: "NodeStatusUnknown"}
}

// recovered makes name Ready again since since, after an outage.
func (n *fakeNodes) recovered(name string, since time.Time) {
	n.set(name, true, since)
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.states[name]
	s.RecoveredAt = since
	n.states[name] = s
}

// crash is pod's restart, a replica of Deployment web on node.
func crash(pod, node string) event.Event {
	e := restart
	e.ResourceName, e.Node = pod, node
	e.Workload = event.Workload{Kind: "Deployment", Name: "web"}
	return e
}

// grouped is a configuration of pod-restart for agentA grouping by by, waiting wait.
func grouped(by hook.GroupBy, wait time.Duration, labels ...string) hook.Configuration {
	c := onRestart(agentA, "{{.ResourceName}}")
	c.Grouping = hook.Grouping{By: by, Labels: labels, Wait: wait}
	return c
}

func TestTheReplicasOfAWorkloadThatFailTogetherAreOneInvestigationSentAfterTheGroupWait(t *testing.T) {
	h := newHook("apps", "one", grouped("", 10*time.Second)) // the default for Pods: by workload
	f := newFixture(t, pipeline.Options{}, h)
	for i := range 4 {
		f.handle(crash(fmt.Sprintf("web-%d", i), "n1"))
	}
	if n := f.agent.Count("send", agentA); n != 0 {
		t.Fatalf("%d sends before the group wait is over, want none", n)
	}
	f.after(10 * time.Second)
	if n := f.agent.Count("send", agentA); n != 1 {
		t.Fatalf("%d sends once the group wait is over, want one for the Deployment", n)
	}
	f.handle(crash("web-4", "n2")) // a replica that fails later joins
	f.after(time.Minute)
	f.flush(t, true)
	inv := f.investigation(t, h.Ref, "web")
	if n := f.agent.Count("send", agentA); n != 1 || inv.Subject.Kind != "Deployment" || inv.MemberCount != 5 || len(inv.Members) != 5 || len(f.inv.All(h.Ref)) != 1 {
		t.Fatalf("%d sends; investigations %s, want one about Deployment apps/web naming its 5 Pods", n, names(f.inv.All(h.Ref)))
	}
}

func TestEachGroupingMakesTheSubjectItSays(t *testing.T) {
	alert := func(name, service string) event.Event {
		return event.Event{Type: "alert-firing", ResourceKind: "Alert", Namespace: "apps", ResourceName: name, Fingerprint: name,
			Metadata: map[string]string{"service": service, "alertname": "Latency"}, Timestamp: t0, Source: "alertmanager"}
	}
	tests := []struct {
		name     string
		config   hook.Configuration
		events   []event.Event
		subjects []string
	}{
		{"by workload, two replicas are one Deployment", grouped(hook.ByWorkload, 0),
			[]event.Event{crash("web-1", "n1"), crash("web-2", "n2")}, []string{"Deployment/web"}},
		{"by workload, a Pod without a controller is its own subject", grouped(hook.ByWorkload, 0),
			[]event.Event{restart}, []string{"Pod/web-1"}},
		{"by node, the Pods of one Node are one incident", grouped(hook.ByNode, 0),
			[]event.Event{crash("web-1", "n1"), crash("db-1", "n1"), crash("web-2", "n2")}, []string{"Node/n1", "Node/n2"}},
		{"by resource, each Pod is its own", grouped(hook.ByResource, 0),
			[]event.Event{crash("web-1", "n1"), crash("web-2", "n1")}, []string{"Pod/web-1", "Pod/web-2"}},
		{"by labels, alerts of one service are one group", hook.Configuration{EventType: "alert-firing", Agent: agentA, Prompt: "x",
			Grouping: hook.Grouping{By: hook.ByLabels, Labels: []string{"service"}}},
			[]event.Event{alert("a1", "cart"), alert("a2", "cart"), alert("a3", "pay")}, []string{"Group/service=cart", "Group/service=pay"}},
		{"alerts group by resource unless told otherwise", hook.Configuration{EventType: "alert-firing", Agent: agentA, Prompt: "x"},
			[]event.Event{alert("a1", "cart"), alert("a2", "cart")}, []string{"Alert/a1", "Alert/a2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHook("apps", "one", tt.config)
			f := newFixture(t, pipeline.Options{KnownEventTypes: append(event.KubernetesTypes, "alert-firing")}, h)
			for _, e := range tt.events {
				f.handle(e)
			}
			f.flush(t, true)
			var got []string
			for _, inv := range f.inv.All(h.Ref) {
				got = append(got, inv.Subject.Kind+"/"+inv.Subject.Name)
			}
			if strings.Join(got, " ") != strings.Join(tt.subjects, " ") {
				t.Fatalf("investigations about %v, want %v", got, tt.subjects)
			}
			if n := f.agent.Count("send", agentA); n != len(tt.subjects) {
				t.Fatalf("%d sends, want one per subject (%d)", n, len(tt.subjects))
			}
		})
	}
}

func TestAnIncidentResolvesWhenItsLastMemberDoes(t *testing.T) {
	h := newHook("apps", "one", grouped(hook.ByWorkload, 0))
	f := newFixture(t, pipeline.Options{}, h)
	a, b := crash("web-1", "n1"), crash("web-2", "n1")
	f.handle(a)
	f.handle(b)
	a.Resolution = event.Recovered
	f.handle(a)
	f.flush(t, true)
	if inv := f.investigation(t, h.Ref, "web"); !inv.ResolvedAt.IsZero() {
		t.Fatalf("the incident resolved with a member still firing: %+v", inv)
	}
	b.Resolution = event.Deleted
	f.handle(b)
	f.flush(t, true)
	if inv := f.investigation(t, h.Ref, "web"); inv.ResolvedAt.IsZero() || inv.ResolvedReason != string(event.Deleted) {
		t.Fatalf("the incident did not resolve with its last member: %+v", inv)
	}
}

func TestTroubleThatEndsWhileItsIncidentGathersStartsNoInvestigation(t *testing.T) {
	h := newHook("apps", "one", grouped(hook.ByWorkload, 10*time.Second))
	f := newFixture(t, pipeline.Options{}, h)
	e := crash("web-1", "n1")
	f.handle(e)
	e.Resolution = event.Recovered
	f.handle(e)
	f.after(time.Minute)
	if n := f.agent.Count("send", agentA); n != 0 {
		t.Fatalf("%d sends about trouble that was over before the group wait, want none", n)
	}
}

func TestPodTroubleOnANodeThatIsNotReadyIsInhibited(t *testing.T) {
	tests := []struct {
		name      string
		opts      pipeline.Options
		nodes     func(n *fakeNodes)
		events    []event.Event
		sends     int
		inhibited int
	}{
		{"a Pod on a Node not ready starts nothing", pipeline.Options{},
			func(n *fakeNodes) { n.set("n1", false, t0.Add(-time.Minute)) }, []event.Event{crash("web-1", "n1")}, 0, 1},
		{"a Pod on a Node ready again a moment ago starts nothing", pipeline.Options{},
			func(n *fakeNodes) { n.recovered("n1", t0.Add(-time.Minute)) }, []event.Event{crash("web-1", "n1")}, 0, 1},
		{"a Pod on a Node recovered longer than the grace ago is investigated", pipeline.Options{},
			func(n *fakeNodes) { n.recovered("n1", t0.Add(-time.Hour)) }, []event.Event{crash("web-1", "n1")}, 1, 0},
		{"a Pod on a Node that joined the cluster a moment ago is investigated", pipeline.Options{},
			func(n *fakeNodes) { n.set("n1", true, t0.Add(-time.Minute)) }, []event.Event{crash("web-1", "n1")}, 1, 0},
		{"a Deployment with a replica on a healthy Node is investigated", pipeline.Options{},
			func(n *fakeNodes) { n.set("n1", false, t0); n.set("n2", true, t0.Add(-time.Hour)) },
			[]event.Event{crash("web-1", "n1"), crash("web-2", "n2")}, 1, 0},
		{"a Pod on a Node khook does not know is investigated", pipeline.Options{},
			func(n *fakeNodes) {}, []event.Event{crash("web-1", "n9")}, 1, 0},
		{"with inhibition off every Pod is investigated", pipeline.Options{Inhibition: pipeline.Inhibition{Disabled: true}},
			func(n *fakeNodes) { n.set("n1", false, t0) }, []event.Event{crash("web-1", "n1")}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHook("apps", "one", grouped(hook.ByWorkload, 10*time.Second))
			f := newFixture(t, tt.opts, h)
			tt.nodes(f.nodes)
			for _, e := range tt.events {
				f.handle(e)
			}
			f.after(10 * time.Second)
			f.flush(t, true)
			if n := f.agent.Count("send", agentA); n != tt.sends {
				t.Fatalf("%d sends, want %d", n, tt.sends)
			}
			if n := f.audit.Count(ports.AuditSuppressed); n != tt.inhibited {
				t.Fatalf("%d incidents suppressed, want %d", n, tt.inhibited)
			}
			if tt.inhibited > 0 {
				inv := f.investigation(t, h.Ref, "web")
				if inv.Phase != "suppressed" || inv.Reason != "inhibited" || !strings.Contains(inv.Message, "node n1") {
					t.Fatalf("investigation %+v, want suppressed, inhibited by node n1", inv)
				}
			}
		})
	}
}

func TestAnIncidentStillGatheringWhenItsNodeFailsIsInhibited(t *testing.T) {
	h := newHook("apps", "one", grouped(hook.ByWorkload, 10*time.Second))
	f := newFixture(t, pipeline.Options{}, h)
	f.nodes.set("n1", true, t0.Add(-time.Hour))
	f.handle(crash("web-1", "n1"))
	f.clock.Step(5 * time.Second)
	f.nodes.set("n1", false, f.clock.Now()) // the Node turns not ready while the incident gathers
	f.after(5 * time.Second)
	if n := f.agent.Count("send", agentA); n != 0 {
		t.Fatalf("%d sends, want none: the Node's failure explains the Pod's", n)
	}
}

func TestTheNodesIncidentNamesThePodsWhoseTroubleItInhibits(t *testing.T) {
	node := hook.Configuration{EventType: event.NodeNotReady, Agent: agentB, Prompt: "node {{.ResourceName}}"}
	h := newHook("", "cluster", node, grouped(hook.ByWorkload, 10*time.Second))
	f := newFixture(t, pipeline.Options{KnownEventTypes: append(event.KubernetesTypes, event.NodeNotReady)}, h)
	f.nodes.set("n1", false, t0)
	f.handle(event.Event{Type: event.NodeNotReady, ResourceKind: "Node", ResourceName: "n1", Node: "n1", Reason: "NodeStatusUnknown", Timestamp: t0, Source: "kubernetes"})
	pod := crash("web-1", "n1")
	pod.Namespace = ""
	f.handle(pod)
	f.after(10 * time.Second)
	f.flush(t, true)
	inv := f.investigation(t, h.Ref, "n1")
	if f.agent.Count("send", agentB) != 1 || f.agent.Count("send", agentA) != 0 || inv.MemberCount != 2 || !strings.Contains(strings.Join(inv.Members, " "), "web-1") {
		t.Fatalf("sends %d/%d, node's investigation %+v: want the Node investigated, naming web-1, and web-1 not", f.agent.Count("send", agentB), f.agent.Count("send", agentA), inv)
	}
}

func TestAnIncidentRestoredWhileItGatheredStartsOnceAtTheEndOfItsWait(t *testing.T) {
	h := newHook("apps", "one", grouped(hook.ByWorkload, time.Minute))
	store := &portstest.Investigations{}
	first := newFixtureOn(t, store, t0)
	first.p.UpsertHook(context.Background(), h)
	first.handle(crash("web-1", "n1"))
	first.flush(t, true)

	second := newFixtureOn(t, store, t0.Add(20*time.Second)) // khook restarted, 40 s of the wait left
	second.p.RestoreHook(h, first.status.Activity(h.Ref).Events, store.All(h.Ref))
	second.p.UpsertHook(context.Background(), h)
	second.after(30 * time.Second)
	if n := second.agent.Count("send", agentA); n != 0 {
		t.Fatalf("%d sends before the restored incident's wait is over", n)
	}
	second.after(10 * time.Second)
	second.after(time.Minute)
	if n := second.agent.Count("send", agentA); n != 1 {
		t.Fatalf("%d sends once its wait is over, want 1", n)
	}
}

func TestConfigurationsThatGroupOneTypeDifferentlyAreRefusedNamingTheField(t *testing.T) {
	tooLong := grouped(hook.ByWorkload, 11*time.Minute)
	other := grouped(hook.ByNode, 0)
	other.Agent = agentB
	labels := grouped(hook.ByLabels, 0)
	tests := []struct {
		name   string
		hook   hook.Hook
		reason string
		field  string
	}{
		{"a wait past ten minutes", newHook("apps", "one", tooLong), "InvalidGrouping", "spec.eventConfigurations[0].groupWait"},
		{"labels without their names", newHook("apps", "one", labels), "InvalidGrouping", "spec.eventConfigurations[0].groupLabels"},
		{"a second configuration grouping its type otherwise", newHook("apps", "one", grouped(hook.ByWorkload, 0), other), "InvalidGrouping", "spec.eventConfigurations[1].groupBy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, pipeline.Options{})
			c := f.p.UpsertHook(context.Background(), tt.hook)
			if c.Status || c.Reason != tt.reason || !strings.Contains(c.Message, tt.field) {
				t.Fatalf("Accepted = %+v, want %s naming %s", c, tt.reason, tt.field)
			}
		})
	}
}

func TestThePromptNamesTheIncidentsSubjectAndTheMembersGatheredWithIt(t *testing.T) {
	c := grouped("", 10*time.Second)
	c.Prompt = "{{.Subject.Kind}} {{.Subject.Name}}: {{.ResourceCount}} pods ({{range $i, $r := .Resources}}{{if $i}} {{end}}{{$r}}{{end}}); first {{.ResourceName}}"
	h := newHook("apps", "one", c)
	f := newFixture(t, pipeline.Options{}, h)
	for _, pod := range []string{"web-c", "web-a", "web-b"} {
		f.handle(crash(pod, "n1"))
	}
	f.after(10 * time.Second)
	calls := f.agent.Calls("send", agentA)
	if len(calls) != 1 {
		t.Fatalf("%d sends, want one", len(calls))
	}
	if got, want := calls[0].Request.Prompt, "Deployment web: 3 pods (web-a web-b web-c); first web-c"; got != want {
		t.Fatalf("the prompt is %q, want %q", got, want)
	}
}
