package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/test/echoagent"
)

const restartPrompt = "Pod {{.ResourceName}} in {{.Namespace}} restarted: {{.Message}}"

// received waits until agent has exactly want messages, and returns them.
func received(t *testing.T, agentSrv *echoagent.Server, agent string, want int) []echoagent.Received {
	t.Helper()
	var got []echoagent.Received
	eventually(t, 15*time.Second, func() error {
		got = agentSrv.ReceivedBy(agent)
		if len(got) != want {
			return fmt.Errorf("agent %s received %d messages, want %d", agent, len(got), want)
		}
		return nil
	})
	return got
}

// receivedFor counts the messages agent received about pod (prompts name the pod).
func receivedFor(agentSrv *echoagent.Server, agent, pod string) int {
	n := 0
	for _, r := range agentSrv.ReceivedBy(agent) {
		if strings.Contains(r.Text, "Pod "+pod+" ") {
			n++
		}
	}
	return n
}

// sendSentinel creates a crash-loop Event for pod in ns and waits until agent received it once:
// events created before it have been handled by then, so a test can count what they caused.
func sendSentinel(t *testing.T, agentSrv *echoagent.Server, agent, ns, pod string) {
	t.Helper()
	create(t, backOffEvent(ns, pod))
	eventually(t, 15*time.Second, func() error {
		if n := receivedFor(agentSrv, agent, pod); n != 1 {
			return fmt.Errorf("sentinel %s received %d times, want 1", pod, n)
		}
		return nil
	})
}

// repeatIsNotSentAgain creates pod's trouble again and checks, once a sentinel has gone through,
// that agent still has exactly the one message about pod it got before.
func repeatIsNotSentAgain(t *testing.T, agentSrv *echoagent.Server, agent, ns, pod string) {
	t.Helper()
	create(t, backOffEvent(ns, pod))
	sendSentinel(t, agentSrv, agent, ns, "sentinel")
	if n := receivedFor(agentSrv, agent, pod); n != 1 {
		t.Fatalf("%s was sent again: %d deliveries", pod, n)
	}
}

func TestAnEventReachesTheAgentOnceAndIsRecordedOnTheHook(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{RequireV1: true})
	startKhook(t, fastOptions(agent.URL))
	create(t, newHook(ns, "restarts", "k8s-agent", restartPrompt, "pod-restart"))
	if c := waitAccepted(t, ns, "restarts"); c.Status != metav1.ConditionTrue {
		t.Fatalf("hook not accepted: %+v", c)
	}

	create(t, backOffEvent(ns, "web-1"))

	got := received(t, agent, "kagent/k8s-agent", 1)[0]
	want := fmt.Sprintf("Pod web-1 in %s restarted: Back-off restarting failed container app in pod web-1", ns)
	if got.Text != want || got.UserID != "tester@khook.dev" || got.A2AVersion != "1.0" {
		t.Fatalf("agent received %+v\nwant text %q from tester@khook.dev over A2A 1.0", got, want)
	}
	eventually(t, 10*time.Second, func() error {
		inv, d, err := deliveryOf(t, ns, "restarts", "web-1", "kagent/k8s-agent")
		if err != nil {
			return err
		}
		if inv.Spec.EventType != "pod-restart" || inv.Spec.Subject.Kind != "Pod" || inv.Spec.Event == nil || inv.Spec.Event.Reason != "BackOff" ||
			inv.Status.Phase != "completed" || inv.Status.Agents != "kagent/k8s-agent" || !strings.HasPrefix(inv.Status.Summary, "echo: Pod web-1") ||
			len(inv.OwnerReferences) != 1 || inv.OwnerReferences[0].Kind != "Hook" {
			return fmt.Errorf("investigation = %+v", inv)
		}
		if d.State != "completed" || d.TaskID != got.TaskID || d.MessageID != got.MessageID || !strings.HasPrefix(d.Summary, "echo: Pod web-1") {
			return fmt.Errorf("delivery = %+v", d)
		}
		var a v1alpha2.ActiveEvent
		for _, e := range hookStatus(t, ns, "restarts").ActiveEvents {
			if e.ResourceName == "web-1" {
				a = e
			}
		}
		if a.EventType != "pod-restart" || a.Status != v1alpha2.EventFiring || a.NotifiedAt == nil || a.Investigation != inv.Name {
			return fmt.Errorf("the Hook's status summary = %+v, want the firing naming its investigation", a)
		}
		return nil
	})
	// What kubectl get inv -n NS shows.
	columns, rows := investigationTable(t, ns)
	if want := []string{"Name", "Hook", "Type", "Kind", "Subject", "State", "Agents", "Summary", "Age"}; !slices.Equal(columns, want) {
		t.Fatalf("kubectl get inv shows columns %v, want %v", columns, want)
	}
	if len(rows) != 1 || rows[0][1] != "restarts" || rows[0][2] != "pod-restart" || rows[0][4] != "web-1" || rows[0][5] != "completed" ||
		rows[0][6] != "kagent/k8s-agent" || !strings.HasPrefix(rows[0][7], "echo: Pod web-1") {
		t.Fatalf("kubectl get inv shows %v", rows)
	}
	eventually(t, 10*time.Second, func() error {
		reasons := auditReasons(t, ns, "restarts")
		for _, want := range []string{"EventFiring", "AgentAccepted", "InvestigationCompleted"} {
			if !slices.Contains(reasons, want) {
				return fmt.Errorf("events on the hook: %v, want %s", reasons, want)
			}
		}
		return nil
	})
}

func TestARepeatInsideTheWindowIsNotSent(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	startKhook(t, fastOptions(agent.URL)) // a window of a minute: the repeat is well inside it
	create(t, newHook(ns, "restarts", "k8s-agent", restartPrompt, "pod-restart"))
	waitAccepted(t, ns, "restarts")

	create(t, backOffEvent(ns, "web-1"))
	received(t, agent, "kagent/k8s-agent", 1)
	create(t, backOffEvent(ns, "web-1"))
	sendSentinel(t, agent, "kagent/k8s-agent", ns, "web-2")
	if n := receivedFor(agent, "kagent/k8s-agent", "web-1"); n != 1 {
		t.Fatalf("a repeat inside the window was sent: web-1 received %d times", n)
	}
}

func TestTroubleNotSeenForTheWindowResolvesAndFiresAgainWhenSeenAgain(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	opts := fastOptions(agent.URL)
	// Short, for the test to wait it out; not so short that a busy machine handles an Event
	// later than a window after it was written (it would be history, not news).
	opts.DedupWindow = 5 * time.Second
	startKhook(t, opts)
	create(t, newHook(ns, "restarts", "k8s-agent", restartPrompt, "pod-restart"))
	waitAccepted(t, ns, "restarts")

	create(t, backOffEvent(ns, "web-1"))
	received(t, agent, "kagent/k8s-agent", 1)
	eventually(t, 30*time.Second, func() error {
		for _, a := range hookStatus(t, ns, "restarts").ActiveEvents {
			if a.ResourceName == "web-1" && a.Status == v1alpha2.EventResolved && a.ResolvedReason == "quiet" {
				return nil
			}
		}
		return fmt.Errorf("web-1 not resolved as quiet yet")
	})
	create(t, backOffEvent(ns, "web-1"))
	eventually(t, 15*time.Second, func() error {
		if n := receivedFor(agent, "kagent/k8s-agent", "web-1"); n != 2 {
			return fmt.Errorf("web-1 received %d times, want 2 after it fired again", n)
		}
		return nil
	})
	got := agent.ReceivedBy("kagent/k8s-agent")
	if got[0].MessageID == got[1].MessageID {
		t.Fatalf("the second firing reused the first one's message id %s", got[0].MessageID)
	}
	eventually(t, 10*time.Second, func() error {
		if !slices.Contains(auditReasons(t, ns, "restarts"), "EventResolved") {
			return fmt.Errorf("no EventResolved on the hook")
		}
		return nil
	})
}

func TestEveryMatchingHookAndConfigurationIsCalledOnceAndOtherNamespacesAreNot(t *testing.T) {
	ns, other := newNamespace(t), newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	startKhook(t, fastOptions(agent.URL))
	two := newHook(ns, "two-configs", "agent-a", "A {{.ResourceName}}", "pod-restart")
	two.Spec.EventConfigurations = append(two.Spec.EventConfigurations, v1alpha2.EventConfiguration{
		EventType: "pod-restart", AgentID: "kagent/agent-b", Prompt: "B {{.ResourceName}}", GroupWait: noWait(),
	})
	create(t, two)
	create(t, newHook(ns, "second-hook", "agent-c", "C {{.ResourceName}}", "pod-restart"))
	create(t, newHook(other, "elsewhere", "agent-d", "D {{.ResourceName}}", "pod-restart"))
	for _, h := range []struct{ ns, name string }{{ns, "two-configs"}, {ns, "second-hook"}, {other, "elsewhere"}} {
		waitAccepted(t, h.ns, h.name)
	}

	create(t, backOffEvent(ns, "web-1"))

	for agentName, prompt := range map[string]string{"agent-a": "A web-1", "agent-b": "B web-1", "agent-c": "C web-1"} {
		if got := received(t, agent, "kagent/"+agentName, 1); got[0].Text != prompt {
			t.Fatalf("%s received %q, want %q", agentName, got[0].Text, prompt)
		}
	}
	create(t, backOffEvent(other, "sentinel"))
	received(t, agent, "kagent/agent-d", 1) // the other namespace's hook saw only its own event
	if got := agent.ReceivedBy("kagent/agent-d"); got[0].Text != "D sentinel" {
		t.Fatalf("the hook in another namespace received %q", got[0].Text)
	}
}

func TestAFailingAgentIsRetriedAndReceivesTheEventOnce(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	startKhook(t, fastOptions(agent.URL))
	create(t, newHook(ns, "restarts", "k8s-agent", restartPrompt, "pod-restart"))
	waitAccepted(t, ns, "restarts")
	agent.FailNext(2)

	create(t, backOffEvent(ns, "web-1"))

	received(t, agent, "kagent/k8s-agent", 1)
	if agent.Attempts() != 3 {
		t.Fatalf("attempts = %d, want 2 failures and 1 delivery", agent.Attempts())
	}
}

func TestADownAgentOpensTheBreakerWithoutACallStormAndGetsEveryEventAfterRecovery(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	opts := fastOptions(agent.URL)
	opts.Breaker.OpenFor = 2 * time.Second
	opts.Delivery.MaxAttempts = 1000 // keep retrying for the whole outage
	startKhook(t, opts)
	// The agent's name is this test's own, so the process-wide metrics count only its sends.
	create(t, newHook(ns, "restarts", "breaker-agent", restartPrompt, "pod-restart"))
	waitAccepted(t, ns, "restarts")
	agent.FailNext(1_000_000)

	const pods = 10
	started := time.Now()
	for i := range pods {
		create(t, backOffEvent(ns, fmt.Sprintf("web-%d", i)))
	}
	// Every firing has been tried, refused by the breaker, and tried again: far more failed
	// sends than the agent saw.
	eventually(t, 30*time.Second, func() error {
		if n := agentSends(t, "kagent/breaker-agent", "failed"); n < 3*pods {
			return fmt.Errorf("%v failed sends counted, want at least %d", n, 3*pods)
		}
		return nil
	})
	// Each send makes at most 1+MaxRetries attempts. The breaker opens after 3 failed sends,
	// with at most MaxSendsPerAgent under way; then it lets one trial through per OpenFor.
	perSend := 1 + int(opts.Retry.MaxRetries)
	trials := int(time.Since(started)/opts.Breaker.OpenFor) + 1
	limit := (3+delivery.DefaultMaxSendsPerAgent)*perSend + trials*perSend
	if n := agent.Attempts(); n > limit {
		t.Fatalf("the down agent got %d requests for %d firings; the breaker should have held them to %d", n, pods, limit)
	}

	agent.FailNext(0)
	eventually(t, 60*time.Second, func() error {
		for i := range pods {
			if n := receivedFor(agent, "kagent/breaker-agent", fmt.Sprintf("web-%d", i)); n != 1 {
				return fmt.Errorf("web-%d received %d times, want once", i, n)
			}
		}
		return nil
	})
}

// agentSends reads khook_agent_sends_total for agent and result from the metrics registry.
func agentSends(t *testing.T, agent, result string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "khook_agent_sends_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["agent"] == agent && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestARestartedControllerFollowsTheTaskUnderWayAndSendsNothingNew(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	agent.SetBehavior("kagent/k8s-agent", echoagent.Behavior{Duration: 3 * time.Second, Summary: "root cause found"})
	first := startKhook(t, fastOptions(agent.URL))
	create(t, newHook(ns, "restarts", "k8s-agent", restartPrompt, "pod-restart"))
	waitAccepted(t, ns, "restarts")
	create(t, backOffEvent(ns, "web-1"))
	taskIsWorking(t, ns, "restarts", "web-1")

	first.Stop(t) // while the agent works on the task
	polls := agent.Requests("kagent/k8s-agent", "GetTask")
	startKhook(t, fastOptions(agent.URL))
	followedToTheEnd(t, agent, ns, "restarts", "web-1", polls)
	repeatIsNotSentAgain(t, agent, "kagent/k8s-agent", ns, "web-1") // inside the window
}

// taskIsWorking waits until the Hook's ledger shows the agent at work on pod's firing.
func taskIsWorking(t *testing.T, ns, hookName, pod string) {
	t.Helper()
	eventually(t, 15*time.Second, func() error {
		_, d, err := deliveryOf(t, ns, hookName, pod, "kagent/k8s-agent")
		if err != nil {
			return err
		}
		if d.State != "working" && d.State != "submitted" || d.TaskID == "" {
			return fmt.Errorf("delivery = %+v, want the task at work", d)
		}
		return nil
	})
}

// followedToTheEnd waits until the ledger shows pod's task completed, followed by polls beyond
// pollsBefore, with exactly one message sent.
func followedToTheEnd(t *testing.T, agent *echoagent.Server, ns, hookName, pod string, pollsBefore int) {
	t.Helper()
	eventually(t, 20*time.Second, func() error {
		_, d, err := deliveryOf(t, ns, hookName, pod, "kagent/k8s-agent")
		if err != nil {
			return err
		}
		if d.State != "completed" || d.Summary != "root cause found" {
			return fmt.Errorf("delivery = %+v, want the task followed to its end", d)
		}
		return nil
	})
	if n := receivedFor(agent, "kagent/k8s-agent", pod); n != 1 {
		t.Fatalf("%s was sent %d times, want once", pod, n)
	}
	if n := agent.Requests("kagent/k8s-agent", "GetTask"); n <= pollsBefore {
		t.Fatalf("the new controller never polled the task (%d polls before, %d after)", pollsBefore, n)
	}
}

func TestDeletingAHookStopsItsCallsAndDropsItsState(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	startKhook(t, fastOptions(agent.URL))
	h := newHook(ns, "restarts", "agent-a", restartPrompt, "pod-restart")
	create(t, h)
	waitAccepted(t, ns, "restarts")
	create(t, backOffEvent(ns, "web-1"))
	received(t, agent, "kagent/agent-a", 1)

	if err := k8s.Delete(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	create(t, newHook(ns, "sentinel", "agent-b", restartPrompt, "pod-restart"))
	waitAccepted(t, ns, "sentinel")
	create(t, backOffEvent(ns, "web-2"))
	received(t, agent, "kagent/agent-b", 1)
	if n := len(agent.ReceivedBy("kagent/agent-a")); n != 1 {
		t.Fatalf("the deleted hook's agent was called again: %d messages", n)
	}

	// A new Hook of the same name starts from nothing: web-1 is new trouble for it.
	create(t, newHook(ns, "restarts", "agent-a", restartPrompt, "pod-restart"))
	waitAccepted(t, ns, "restarts")
	create(t, backOffEvent(ns, "web-1"))
	received(t, agent, "kagent/agent-a", 2)
}

func TestAHookWithARefusedTemplateOrAnUnknownEventTypeSaysSoOnItsStatus(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	startKhook(t, fastOptions(agent.URL))
	tests := []struct {
		name       string
		hook       *v1alpha2.Hook
		wantReason string
		wantText   string
	}{
		{"a prompt with an unknown field", newHook(ns, "bad-field", "a", "{{.Secret}}", "pod-restart"), "TemplateRefused",
			`spec.eventConfigurations[0].prompt: template refused: prompt:1:2: field "Secret" is not allowed`},
		{"an event type no source provides", newHook(ns, "no-source", "a", "x", "alert-firing"), "UnknownEventType",
			`spec.eventConfigurations[0].eventType: no event source provides "alert-firing"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			create(t, tt.hook)
			c := waitAccepted(t, ns, tt.hook.Name)
			if c.Status != metav1.ConditionFalse || c.Reason != tt.wantReason || !strings.Contains(c.Message, tt.wantText) {
				t.Fatalf("Accepted = %+v\nwant reason %s and a message containing %q", c, tt.wantReason, tt.wantText)
			}
		})
	}
}

func TestPodStatusChangesFireRestartsAndOOMKillsButANormalDeletionDoesNot(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	startKhook(t, fastOptions(agent.URL))
	create(t, newHook(ns, "pods", "k8s-agent", "{{.EventType}} {{.ResourceName}}: {{.Message}}", "pod-restart", "oom-kill"))
	waitAccepted(t, ns, "pods")

	// A normal deletion: the kubelet says Killing ("Stopping container"). Nothing fires.
	create(t, podEvent(ns, "deleted", "Killing", "Stopping container app"))

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cart"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "cart:1"}}},
	}
	create(t, pod)
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: "cart:1", Ready: true, RestartCount: 0,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}
	if err := k8s.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	pod.Status.ContainerStatuses[0].RestartCount = 1
	pod.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		Reason: "OOMKilled", ExitCode: 137, FinishedAt: metav1.Now(),
	}}
	if err := k8s.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}

	got := received(t, agent, "kagent/k8s-agent", 2)
	var texts []string
	for _, r := range got {
		texts = append(texts, r.Text)
	}
	slices.Sort(texts)
	want := []string{
		"oom-kill cart: container app was killed for running out of memory (exit code 137)",
		"pod-restart cart: container app restarted (restart count 1); last exit: OOMKilled (code 137)",
	}
	if !slices.Equal(texts, want) {
		t.Fatalf("agent received %q\nwant %q", texts, want)
	}
	for _, r := range got {
		if strings.Contains(r.Text, "deleted") {
			t.Fatalf("a normal deletion fired: %q", r.Text)
		}
	}
}

func TestANewLeaderFollowsTheTaskUnderWayAndSendsNothingNew(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	agent.SetBehavior("kagent/k8s-agent", echoagent.Behavior{Duration: 3 * time.Second, Summary: "root cause found"})
	withLease := func(o *ctrl.Options) {
		o.LeaderElection = true
		o.LeaderElectionID = "khook-failover-test"
		o.LeaderElectionNamespace = ns
		o.LeaderElectionReleaseOnCancel = true
		// Generous for a busy machine under the race detector; takeover is still quick because
		// the leader releases the lease when it stops.
		o.LeaseDuration = ptr.To(15 * time.Second)
		o.RenewDeadline = ptr.To(10 * time.Second)
		o.RetryPeriod = ptr.To(200 * time.Millisecond)
	}
	leader := startManager(t, fastOptions(agent.URL), withLease)
	leader.waitReady(t)
	standby := startManager(t, fastOptions(agent.URL), withLease)
	create(t, newHook(ns, "restarts", "k8s-agent", restartPrompt, "pod-restart"))
	waitAccepted(t, ns, "restarts")
	create(t, backOffEvent(ns, "web-1"))
	taskIsWorking(t, ns, "restarts", "web-1")
	select {
	case <-standby.khook.Ready():
		t.Fatal("the standby replica runs event sources while another leads")
	default:
	}

	leader.Stop(t) // releases the lease; the standby takes over
	polls := agent.Requests("kagent/k8s-agent", "GetTask")
	standby.waitReady(t)
	followedToTheEnd(t, agent, ns, "restarts", "web-1", polls)
	repeatIsNotSentAgain(t, agent, "kagent/k8s-agent", ns, "web-1")
}

func TestANodesOOMKillReachesOnlyHooksInTheClusterEventNamespace(t *testing.T) {
	platform := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	opts := fastOptions(agent.URL)
	opts.ClusterEventNamespaces = []string{platform}
	startKhook(t, opts)
	create(t, newHook(platform, "nodes", "platform-agent", "{{.ResourceName}}: {{.Message}}", "oom-kill"))
	// Events about cluster-scoped objects live in "default"; a Hook there must not get them.
	inDefault := newHook("default", "oom-in-default", "default-agent", "{{.ResourceName}}: {{.Message}}", "oom-kill")
	create(t, inDefault)
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), inDefault) })
	waitAccepted(t, platform, "nodes")
	waitAccepted(t, "default", "oom-in-default")

	ev := podEvent("default", "worker-3", "OOMKilling", "Memory cgroup out of memory: Killed process 4242 (java)")
	ev.Regarding = corev1.ObjectReference{Kind: "Node", Name: "worker-3", APIVersion: "v1"}
	create(t, ev)

	if got := received(t, agent, "kagent/platform-agent", 1); got[0].Text != "worker-3: Memory cgroup out of memory: Killed process 4242 (java)" {
		t.Fatalf("platform agent received %q", got[0].Text)
	}
	create(t, podEvent("default", "sentinel", "OOMKilling", "x")) // about a pod in default: its Hook's
	received(t, agent, "kagent/default-agent", 1)
	if got := agent.ReceivedBy("kagent/default-agent")[0].Text; got != "sentinel: x" {
		t.Fatalf("the Hook in default received the node's OOM kill: %q", got)
	}
}

func TestEventsOlderThanTheWindowAtStartUpAreHistoryNotNews(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	create(t, newHook(ns, "restarts", "k8s-agent", restartPrompt, "pod-restart"))
	old := backOffEvent(ns, "crashed-yesterday")
	old.EventTime = metav1.NewMicroTime(time.Now().Add(-24 * time.Hour))
	create(t, old)
	recent := backOffEvent(ns, "crashed-just-now") // within the window: news, though it predates khook
	create(t, recent)

	startKhook(t, fastOptions(agent.URL)) // dedup window: one minute
	received(t, agent, "kagent/k8s-agent", 1)
	sendSentinel(t, agent, "kagent/k8s-agent", ns, "sentinel")
	if n := receivedFor(agent, "kagent/k8s-agent", "crashed-yesterday"); n != 0 {
		t.Fatalf("an Event from a day ago was sent to the agent at start-up (%d times)", n)
	}
	if n := receivedFor(agent, "kagent/k8s-agent", "crashed-just-now"); n != 1 {
		t.Fatalf("a recent Event listed at start-up was received %d times, want once", n)
	}
}

// investigationTable reads the Investigations of ns as kubectl get does (a Table from the API
// server, the CRD's printer columns): the column names and each row's cells as text.
func investigationTable(t *testing.T, ns string) (columns []string, rows [][]string) {
	t.Helper()
	httpClient, err := rest.HTTPClientFor(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(restConfig.Host, "/")+"/apis/kagent.dev/v1alpha2/namespaces/"+ns+"/investigations", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json;as=Table;g=meta.k8s.io;v=v1")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("reading the table: %s %v: %.500s", resp.Status, err, body)
	}
	var table metav1.Table
	if err := json.Unmarshal(body, &table); err != nil {
		t.Fatalf("reading the table: %v: %.500s", err, body)
	}
	for _, c := range table.ColumnDefinitions {
		columns = append(columns, c.Name)
	}
	for _, r := range table.Rows {
		var cells []string
		for _, c := range r.Cells {
			cells = append(cells, fmt.Sprint(c))
		}
		rows = append(rows, cells)
	}
	return columns, rows
}
