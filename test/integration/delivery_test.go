package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/test/echoagent"
)

// The delivery model on real parts: a message is sent once and its task followed; slow agents
// delay nobody else; the ledger survives restarts; failures back off; the guarantee holds when
// the process dies between a send and its status write.

func TestATaskThatOutlivesTheRequestTimeoutIsSentOnceAndItsEndRecorded(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	agent.SetBehavior("kagent/k8s-agent", echoagent.Behavior{Duration: 4 * time.Second, Summary: "memory limit too low for the JVM heap"})
	opts := fastOptions(agent.URL)
	opts.RequestTimeout = time.Second // the investigation takes four
	startKhook(t, opts)
	create(t, newHook(ns, "restarts", "k8s-agent", restartPrompt, "pod-restart"))
	waitAccepted(t, ns, "restarts")

	create(t, backOffEvent(ns, "web-1"))

	eventually(t, 20*time.Second, func() error {
		_, d, err := deliveryOf(t, ns, "restarts", "web-1", "kagent/k8s-agent")
		if err != nil {
			return err
		}
		if d.State != "completed" || d.Summary != "memory limit too low for the JVM heap" || d.Attempts != 1 {
			return fmt.Errorf("delivery = %+v", d)
		}
		return nil
	})
	if n := len(agent.ReceivedBy("kagent/k8s-agent")); n != 1 {
		t.Fatalf("the agent received %d messages for one firing, want exactly 1", n)
	}
	eventually(t, 10*time.Second, func() error {
		for _, e := range auditEvents(t, ns, "restarts") {
			if e.Reason == "InvestigationCompleted" && strings.Contains(e.Note, "memory limit too low") && e.Related != nil && e.Related.Name == "web-1" {
				return nil
			}
		}
		return fmt.Errorf("no InvestigationCompleted Event about web-1 with the summary: %v", auditReasons(t, ns, "restarts"))
	})
}

func TestTenFiringsOnASlowAgentDoNotDelayAFiringForAnotherAgent(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	agent.SetBehavior("kagent/slow-agent", echoagent.Behavior{Duration: time.Hour}) // never ends during the test
	arrived := make(chan time.Time, 1)
	agent.OnCall(func(r echoagent.Received) {
		if r.Agent == "kagent/instant-agent" {
			arrived <- r.At
		}
	})
	startKhook(t, fastOptions(agent.URL))
	create(t, newHook(ns, "slow", "slow-agent", restartPrompt, "pod-restart"))
	create(t, newHook(ns, "instant", "instant-agent", "{{.ResourceName}} was OOM-killed", "oom-kill"))
	waitAccepted(t, ns, "slow")
	waitAccepted(t, ns, "instant")

	for i := range 10 {
		create(t, backOffEvent(ns, fmt.Sprintf("slow-%d", i)))
	}
	received(t, agent, "kagent/slow-agent", delivery.DefaultMaxInvestigationsPerAgent) // the rest wait in its queue
	created := time.Now()
	create(t, podEvent(ns, "cart-0", "OOMKilling", "Memory cgroup out of memory: Killed process 7 (java)"))
	select {
	case at := <-arrived:
		took := at.Sub(created)
		t.Logf("the instant agent was told %s after its Event was created, behind 10 firings on a slow agent", took.Round(time.Millisecond))
		if took > 10*time.Second {
			t.Fatalf("the instant agent waited %s behind the slow one", took)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the instant agent was never told")
	}
	eventually(t, 10*time.Second, func() error {
		var list v1alpha2.InvestigationList
		if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return err
		}
		waiting := 0
		for _, inv := range list.Items {
			for _, d := range inv.Status.Deliveries {
				if inv.Spec.Hook.Name == "slow" && d.State == "pending" {
					waiting++
				}
			}
		}
		if waiting != 10-delivery.DefaultMaxInvestigationsPerAgent {
			return fmt.Errorf("%d firings wait as pending on the slow Hook, want %d (none dropped)", waiting, 10-delivery.DefaultMaxInvestigationsPerAgent)
		}
		return nil
	})
}

func TestAfterARestartOnlyTheAgentNotYetToldIsToldAndWithTheFullPrompt(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	agent.SetBehavior("kagent/agent-b", echoagent.Behavior{Unavailable: true})
	opts := fastOptions(agent.URL)
	opts.Delivery.RetryInitial, opts.Delivery.RetryMax = 3*time.Second, 3*time.Second
	first := startKhook(t, opts)
	prompt := "Pod {{.ResourceName}} in {{.Namespace}}: {{.Message}} (by {{.Metadata.reportingController}})"
	h := newHook(ns, "two-agents", "agent-a", prompt, "pod-restart")
	h.Spec.EventConfigurations = append(h.Spec.EventConfigurations, v1alpha2.EventConfiguration{EventType: "pod-restart", AgentID: "kagent/agent-b", Prompt: prompt, GroupWait: noWait()})
	create(t, h)
	waitAccepted(t, ns, "two-agents")
	create(t, backOffEvent(ns, "web-1"))
	var ledgerB v1alpha2.Delivery
	eventually(t, 15*time.Second, func() error { // A told; B is down and waits for a retry
		_, a, errA := deliveryOf(t, ns, "two-agents", "web-1", "kagent/agent-a")
		_, b, errB := deliveryOf(t, ns, "two-agents", "web-1", "kagent/agent-b")
		if errA != nil || errB != nil || a.State != "completed" || b.State != "pending" || b.NextAttemptAt == nil {
			return fmt.Errorf("A %+v (%v), B %+v (%v)", a, errA, b, errB)
		}
		ledgerB = b
		return nil
	})
	first.Stop(t)
	agent.SetBehavior("kagent/agent-b", echoagent.Behavior{})

	startKhook(t, opts)
	received(t, agent, "kagent/agent-b", 1)
	if n := len(agent.ReceivedBy("kagent/agent-a")); n != 1 {
		t.Fatalf("agent A, told before the restart, got %d messages", n)
	}
	b := agent.ReceivedBy("kagent/agent-b")
	want := fmt.Sprintf("Pod web-1 in %s: Back-off restarting failed container app in pod web-1 (by kubelet)", ns)
	if b[0].Text != want || b[0].MessageID != ledgerB.MessageID {
		t.Fatalf("B's retry after the restart: %q (message %s), want %q with the ledger's message id %s", b[0].Text, b[0].MessageID, want, ledgerB.MessageID)
	}
}

func TestAFailedInvestigationIsRecordedAsAnOutcomeAndAskedAgainOnlyAsAllowed(t *testing.T) {
	tests := []struct {
		name      string
		reruns    int
		wantSends int
	}{
		{"by default it is not sent again", 0, 1},
		{"with two reruns allowed the agent is asked twice more, each time after a longer wait", 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := newNamespace(t)
			agent := startAgent(t, echoagent.Options{})
			agent.SetBehavior("kagent/k8s-agent", echoagent.Behavior{End: a2a.TaskStateFailed, Summary: "model overloaded"})
			opts := fastOptions(agent.URL)
			opts.Delivery.RetryInitial, opts.Delivery.RetryMax, opts.Delivery.RetryFailedInvestigations = 500*time.Millisecond, 10*time.Second, tt.reruns
			startKhook(t, opts)
			create(t, newHook(ns, "restarts", "k8s-agent", restartPrompt, "pod-restart"))
			waitAccepted(t, ns, "restarts")

			create(t, backOffEvent(ns, "web-1"))

			eventually(t, 30*time.Second, func() error {
				_, d, err := deliveryOf(t, ns, "restarts", "web-1", "kagent/k8s-agent")
				if err != nil {
					return err
				}
				if d.State != "failed" || int(d.Reruns) != tt.reruns || d.NextAttemptAt != nil || !strings.Contains(d.Summary+d.LastError, "model overloaded") {
					return fmt.Errorf("delivery = %+v, want failed after %d reruns, with the agent's words", d, tt.reruns)
				}
				return nil
			})
			got := agent.ReceivedBy("kagent/k8s-agent")
			if len(got) != tt.wantSends {
				t.Fatalf("the agent got %d messages, want %d", len(got), tt.wantSends)
			}
			ids := map[string]bool{}
			for i := range got {
				ids[got[i].MessageID] = true
				if i >= 2 { // 0.5s, 1s (±20%): each wait longer than the one before
					if prev, gap := got[i-1].At.Sub(got[i-2].At), got[i].At.Sub(got[i-1].At); gap <= prev {
						t.Fatalf("waits between reruns %v then %v: they must grow", prev, gap)
					}
				}
			}
			if len(ids) != len(got) {
				t.Fatalf("message ids %v: each rerun is a new message", ids)
			}
			eventually(t, 10*time.Second, func() error {
				if c := condition(t, ns, "restarts", "Delivering"); c.Status != metav1.ConditionTrue {
					return fmt.Errorf("Delivering = %+v, want true: the agent was told; its investigation failed", c)
				}
				if reasons := auditReasons(t, ns, "restarts"); !slices.Contains(reasons, "InvestigationEnded") || slices.Contains(reasons, "DeliveryAbandoned") {
					return fmt.Errorf("audit reasons %v, want InvestigationEnded and no DeliveryAbandoned", reasons)
				}
				return nil
			})
		})
	}
}

func TestATaskThatNeedsAPersonGivesAWarningAndIsNotRetried(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	agent.SetBehavior("kagent/k8s-agent", echoagent.Behavior{End: a2a.TaskStateInputRequired, Summary: "which of the two clusters?"})
	startKhook(t, fastOptions(agent.URL))
	create(t, newHook(ns, "restarts", "k8s-agent", restartPrompt, "pod-restart"))
	waitAccepted(t, ns, "restarts")

	create(t, backOffEvent(ns, "web-1"))

	eventually(t, 15*time.Second, func() error {
		for _, e := range auditEvents(t, ns, "restarts") {
			if e.Reason == "InvestigationNeedsInput" && e.Type == "Warning" && strings.Contains(e.Note, "which of the two clusters?") {
				return nil
			}
		}
		return fmt.Errorf("no Warning InvestigationNeedsInput: %v", auditReasons(t, ns, "restarts"))
	})
	sendSentinel(t, agent, "kagent/k8s-agent", ns, "sentinel")
	if n := receivedFor(agent, "kagent/k8s-agent", "web-1"); n != 1 {
		t.Fatalf("a task needing input was sent %d times, want once", n)
	}
	eventually(t, 15*time.Second, func() error { // the status is written after the Event, within a second
		if _, d, err := deliveryOf(t, ns, "restarts", "web-1", "kagent/k8s-agent"); err != nil || d.State != "input-required" {
			return fmt.Errorf("delivery = %+v (%v), want input-required", d, err)
		}
		return nil
	})
}

func TestAnAgentThatDoesNotExistGetsAConditionAndNoCallStormUntilItAppears(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	agent.SetMissing("kagent/ghost", true)
	opts := fastOptions(agent.URL)
	const absence = 5 * time.Second // khook asks a missing agent again after 4-6 s (±20%)
	opts.Delivery.RetryInitial, opts.Delivery.RetryMax = absence, absence
	startKhook(t, opts)
	create(t, newHook(ns, "restarts", "ghost", restartPrompt, "pod-restart"))
	waitAccepted(t, ns, "restarts")

	const pods = 50
	start := time.Now()
	for i := range pods {
		create(t, backOffEvent(ns, fmt.Sprintf("web-%d", i)))
	}
	eventually(t, 30*time.Second, func() error {
		c := condition(t, ns, "restarts", "Delivering")
		if c.Status != metav1.ConditionFalse || c.Reason != "AgentNotFound" || !strings.Contains(c.Message, fmt.Sprintf("agent kagent/ghost (%d firings):", pods)) {
			return fmt.Errorf("Delivering = %+v", c)
		}
		return nil
	})
	// The sends under way when the first 404 came back, then one probe per absence at most.
	probes := int(time.Since(start)/(absence*4/5)) + 1
	if n, most := agent.Requests("kagent/ghost", "*"), delivery.DefaultMaxSendsPerAgent+probes; n > most {
		t.Fatalf("the missing agent got %d requests for %d firings, want at most %d: no call storm", n, pods, most)
	}

	agent.SetMissing("kagent/ghost", false) // the agent is created: the next probe finds it
	eventually(t, 60*time.Second, func() error {
		for i := range pods {
			if n := receivedFor(agent, "kagent/ghost", fmt.Sprintf("web-%d", i)); n != 1 {
				return fmt.Errorf("web-%d reached the agent %d times after it appeared, want once", i, n)
			}
		}
		if c := condition(t, ns, "restarts", "Delivering"); c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Delivering = %+v, want true again", c)
		}
		return nil
	})
}

func TestShutdownLetsASendUnderWayFinishAndRecordsIt(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	agent.SetBehavior("kagent/k8s-agent", echoagent.Behavior{Duration: time.Hour})
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) }) // a failed test leaves no call hanging
	agent.OnCall(func(echoagent.Received) {
		arrived <- struct{}{}
		select { // the agent takes its time to answer the send
		case <-release:
		case <-time.After(time.Minute):
		}
	})
	first := startKhook(t, fastOptions(agent.URL))
	create(t, newHook(ns, "restarts", "k8s-agent", restartPrompt, "pod-restart"))
	waitAccepted(t, ns, "restarts")
	create(t, backOffEvent(ns, "web-1"))
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the send never reached the agent")
	}

	first.stop() // shutdown begins while the send is under way
	releaseOnce.Do(func() { close(release) })
	first.Stop(t) // and waits for the manager to end
	if _, d, err := deliveryOf(t, ns, "restarts", "web-1", "kagent/k8s-agent"); err != nil || d.TaskID == "" || (d.State != "working" && d.State != "submitted") {
		t.Fatalf("after shutdown the ledger says %+v (%v); the send under way must finish and be recorded", d, err)
	}
	agent.OnCall(func(echoagent.Received) {})
	startKhook(t, fastOptions(agent.URL))
	repeatIsNotSentAgain(t, agent, "kagent/k8s-agent", ns, "web-1")
}

// TestTheGuaranteeHoldsWhenTheProcessDiesBetweenASendAndItsStatusWrite simulates the crash: as
// the message reaches the agent, the controller loses the right to write Hook status (so neither
// its flushes nor its final write land), and it stops. A second controller then reads what the
// status holds.
func TestTheGuaranteeHoldsWhenTheProcessDiesBetweenASendAndItsStatusWrite(t *testing.T) {
	tests := []struct {
		guarantee    delivery.Guarantee
		wantMessages int
		wantState    string
	}{
		{delivery.AtLeastOnce, 2, "completed"},
		{delivery.AtMostOnce, 1, "unknown"},
	}
	for _, tt := range tests {
		t.Run(string(tt.guarantee), func(t *testing.T) {
			ns := newNamespace(t)
			user := "khook-crash-" + string(tt.guarantee)
			role := grantKhook(t, user)
			agent := startAgent(t, echoagent.Options{})
			opts := fastOptions(agent.URL)
			opts.Delivery.Guarantee = tt.guarantee
			var once sync.Once
			agent.OnCall(func(r echoagent.Received) {
				once.Do(func() { revokeStatusWrites(t, role, user) }) // the "crash" begins as the message arrives
			})
			asUser := rest.CopyConfig(restConfig)
			asUser.Impersonate = rest.ImpersonationConfig{UserName: user}
			first := startManagerWithConfig(t, asUser, opts, nil)
			first.waitReady(t)
			create(t, newHook(ns, "restarts", "k8s-agent", restartPrompt, "pod-restart"))
			waitAccepted(t, ns, "restarts")
			create(t, backOffEvent(ns, "web-1"))
			received(t, agent, "kagent/k8s-agent", 1)
			first.Stop(t) // its final status write is refused too

			agent.OnCall(func(echoagent.Received) {})
			startKhook(t, opts) // a successor with every right
			eventually(t, 20*time.Second, func() error {
				_, d, err := deliveryOf(t, ns, "restarts", "web-1", "kagent/k8s-agent")
				if err != nil {
					return err
				}
				if string(d.State) != tt.wantState {
					return fmt.Errorf("delivery = %+v, want %s", d, tt.wantState)
				}
				return nil
			})
			sendSentinel(t, agent, "kagent/k8s-agent", ns, "sentinel")
			if n := receivedFor(agent, "kagent/k8s-agent", "web-1"); n != tt.wantMessages {
				t.Fatalf("%s: the agent got %d messages for the firing, want %d", tt.guarantee, n, tt.wantMessages)
			}
			if tt.guarantee == delivery.AtMostOnce {
				eventually(t, 15*time.Second, func() error { // the audit trail is written in the background
					if reasons := auditReasons(t, ns, "restarts"); !slices.Contains(reasons, "DeliveryUncertain") {
						return fmt.Errorf("no DeliveryUncertain Event: %v", reasons)
					}
					return nil
				})
			}
		})
	}
}

// grantKhook gives user what khook needs, in a ClusterRole of its own that a test may change.
func grantKhook(t *testing.T, user string) *rbacv1.ClusterRole {
	t.Helper()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"kagent.dev"}, Resources: []string{"hooks"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"kagent.dev"}, Resources: []string{"hooks/status"}, Verbs: []string{"get", "update", "patch"}},
		{APIGroups: []string{"kagent.dev"}, Resources: []string{"investigations"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"kagent.dev"}, Resources: []string{"investigations"}, Verbs: []string{"create", "delete"}},
		{APIGroups: []string{"kagent.dev"}, Resources: []string{"investigations/status"}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"get", "list", "watch", "create", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch"}}, // their agent policy annotation
		{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}},      // node-not-ready, inhibition
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get"}},             // a Pod's workload
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get"}},
		{APIGroups: []string{"kagent.dev"}, Resources: []string{"silences"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"kagent.dev"}, Resources: []string{"silences/status"}, Verbs: []string{"get", "update", "patch"}},
	}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: user},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: user}}}
	create(t, role)
	create(t, binding)
	t.Cleanup(func() {
		_ = k8s.Delete(context.Background(), binding)
		_ = k8s.Delete(context.Background(), role)
	})
	return role
}

// revokeStatusWrites takes the writes of Hook status and Investigations out of user's role and waits until the API server
// enforces it.
func revokeStatusWrites(t *testing.T, role *rbacv1.ClusterRole, user string) {
	var current rbacv1.ClusterRole
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(role), &current); err != nil {
		t.Errorf("reading role: %v", err)
		return
	}
	current.Rules = slices.DeleteFunc(current.Rules, func(r rbacv1.PolicyRule) bool { // every write of what khook records
		return slices.Contains(r.Resources, "hooks/status") || slices.Contains(r.Resources, "investigations/status") ||
			slices.Contains(r.Verbs, "create") && slices.Contains(r.Resources, "investigations")
	})
	if err := k8s.Update(context.Background(), &current); err != nil {
		t.Errorf("revoking status writes: %v", err)
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !allowed(user, "hooks", "status", "patch") && !allowed(user, "investigations", "", "create") && !allowed(user, "investigations", "status", "update") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("status writes still allowed for %s", user)
}

// allowed says whether user may verb the kagent.dev resource (and subresource); an error reading
// it counts as allowed, so that revokeStatusWrites waits on.
func allowed(user, resource, subresource, verb string) bool {
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Group: "kagent.dev", Resource: resource, Subresource: subresource, Verb: verb}}}
	if err := k8s.Create(context.Background(), review); err != nil {
		return true
	}
	return review.Status.Allowed
}

// condition returns the Hook's condition of type typ (zero if absent).
func condition(t *testing.T, ns, name, typ string) metav1.Condition {
	t.Helper()
	for _, c := range hookStatus(t, ns, name).Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}
