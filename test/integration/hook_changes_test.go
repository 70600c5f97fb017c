package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/app"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/test/echoagent"
)

// A Hook changes while its events fire: khook brings the ledger of every firing in line with the
// Hook as it is now (see docs/delivery.md). Each agent has one investigation slot, held by the
// test, so the second firing waits in the agent's queue while the Hook changes.

// onePerAgent are fastOptions with one send and one investigation per agent at a time.
func onePerAgent(kagentURL string) app.Options {
	opts := fastOptions(kagentURL)
	opts.Delivery.MaxSendsPerAgent, opts.Delivery.MaxInvestigationsPerAgent = 1, 1
	return opts
}

// queueDepth is how many firings wait for agent kagent/name in khook's delivery engine.
func queueDepth(c *controller, name string) int {
	return c.khook.Pipeline.Delivery().QueueDepth(hook.AgentRef{Namespace: "kagent", Name: name})
}

// editHook changes the spec of Hook ns/name and updates it, retrying conflicts.
func editHook(t *testing.T, ns, name string, change func(*v1alpha2.Hook)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var h v1alpha2.Hook
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &h); err != nil {
			return err
		}
		change(&h)
		return k8s.Update(context.Background(), &h)
	})
	if err != nil {
		t.Fatalf("editing hook %s: %v", name, err)
	}
}

func configuration(eventType, agent, prompt string) v1alpha2.EventConfiguration {
	return v1alpha2.EventConfiguration{EventType: eventType, AgentRef: &v1alpha2.AgentReference{Namespace: "kagent", Name: agent}, Prompt: prompt, GroupWait: noWait()}
}

// everyAgentGot waits until each agent has received exactly the texts of want (in any order; the
// sentinels, which the Hooks of the namespace see too, left out), then, once a sentinel has gone
// through and no agent has a firing waiting, checks it again.
func everyAgentGot(t *testing.T, c *controller, agentSrv *echoagent.Server, ns string, want map[string][]string) {
	t.Helper()
	check := func() error {
		for name, texts := range want {
			got := make([]string, 0, len(texts))
			for _, r := range agentSrv.ReceivedBy("kagent/" + name) {
				if !strings.Contains(r.Text, "sentinel-") {
					got = append(got, r.Text)
				}
			}
			slices.Sort(got)
			w := slices.Sorted(slices.Values(texts))
			if !slices.Equal(got, w) {
				return fmt.Errorf("agent %s received %q, want %q", name, got, w)
			}
		}
		return nil
	}
	eventually(t, 30*time.Second, check)
	sendSentinel(t, agentSrv, "kagent/sentinel-agent", ns, fmt.Sprintf("sentinel-%d", sentinels.Add(1)))
	eventually(t, 30*time.Second, func() error {
		for name := range want {
			if n := queueDepth(c, name); n != 0 {
				return fmt.Errorf("%d firings still wait for agent %s", n, name)
			}
		}
		return nil
	})
	if err := check(); err != nil {
		t.Fatal(err)
	}
}

func TestAHookEditedOrDeletedWhileItsEventsFireTellsWhatTheHookSaysNow(t *testing.T) {
	agent := startAgent(t, echoagent.Options{})
	c := startKhook(t, onePerAgent(agent.URL))
	oom := func(ns, pod string) *eventsv1.Event {
		return podEvent(ns, pod, "OOMKilling", "Memory cgroup out of memory: Killed process 9 (java)")
	}
	twoRestarts := func(ns string) []*eventsv1.Event {
		return []*eventsv1.Event{backOffEvent(ns, "web-1"), backOffEvent(ns, "web-2")}
	}
	tests := []struct {
		name    string
		configs []v1alpha2.EventConfiguration
		// fire makes two firings for busy: the first holds its only slot, the second waits.
		fire func(ns string) []*eventsv1.Event
		busy string
		// change edits the Hook; nil deletes it.
		change func(*v1alpha2.Hook)
		// after makes events once the Hook changed.
		after func(ns string) []*eventsv1.Event
		want  map[string][]string
		// check, when set, passes once the Hook's status shows the change (it is polled).
		check func(t *testing.T, ns string) error
	}{
		{
			name:    "an edited prompt is used for the message not yet sent",
			configs: []v1alpha2.EventConfiguration{configuration("pod-restart", "prompt-agent", "old: {{.ResourceName}}")},
			fire:    twoRestarts,
			busy:    "prompt-agent",
			change:  func(h *v1alpha2.Hook) { h.Spec.EventConfigurations[0].Prompt = "new: {{.ResourceName}}" },
			want:    map[string][]string{"prompt-agent": {"old: web-1", "new: web-2"}},
		},
		{
			name:    "a new agent is told of every firing and the old one of nothing more",
			configs: []v1alpha2.EventConfiguration{configuration("pod-restart", "agent-before", "{{.ResourceName}}")},
			fire:    twoRestarts,
			busy:    "agent-before",
			change:  func(h *v1alpha2.Hook) { h.Spec.EventConfigurations[0].AgentRef.Name = "agent-after" },
			want:    map[string][]string{"agent-before": {"web-1"}, "agent-after": {"web-1", "web-2"}},
			check: func(t *testing.T, ns string) error {
				for _, pod := range []string{"web-1", "web-2"} {
					a, d, err := deliveryOf(t, ns, "edited", pod, "kagent/agent-after")
					if err != nil || len(a.Status.Deliveries) != 1 || d.State != "completed" {
						return fmt.Errorf("the ledger of %s is %+v (%v), want the new agent only, completed", pod, a.Status.Deliveries, err)
					}
				}
				return nil
			},
		},
		{
			name: "a removed configuration's waiting message is dropped and its type no longer fires",
			configs: []v1alpha2.EventConfiguration{
				configuration("pod-restart", "typed-agent", "restart: {{.ResourceName}}"),
				configuration("oom-kill", "typed-agent", "oom: {{.ResourceName}}"),
			},
			fire: func(ns string) []*eventsv1.Event {
				return []*eventsv1.Event{backOffEvent(ns, "web-1"), oom(ns, "db-0")}
			},
			busy:   "typed-agent",
			change: func(h *v1alpha2.Hook) { h.Spec.EventConfigurations = h.Spec.EventConfigurations[:1] },
			after:  func(ns string) []*eventsv1.Event { return []*eventsv1.Event{oom(ns, "db-1")} },
			want:   map[string][]string{"typed-agent": {"restart: web-1"}},
			check: func(t *testing.T, ns string) error {
				if _, d, err := deliveryOf(t, ns, "edited", "db-0", "kagent/typed-agent"); err == nil {
					return fmt.Errorf("db-0's ledger still names the agent of the removed configuration: %+v", d)
				}
				return nil
			},
		},
		{
			name:    "a deleted Hook tells nobody what it had not told yet, nor anything new",
			configs: []v1alpha2.EventConfiguration{configuration("pod-restart", "deleted-agent", "{{.ResourceName}}")},
			fire:    twoRestarts,
			busy:    "deleted-agent",
			after:   func(ns string) []*eventsv1.Event { return []*eventsv1.Event{backOffEvent(ns, "web-3")} },
			want:    map[string][]string{"deleted-agent": {"web-1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := newNamespace(t)
			hold := make(chan struct{})
			var release sync.Once
			t.Cleanup(func() { release.Do(func() { close(hold) }) })
			for name := range tt.want {
				agent.SetBehavior("kagent/"+name, echoagent.Behavior{Hold: hold})
			}
			create(t, newHook(ns, "sentinel", "sentinel-agent", restartPrompt, "pod-restart"))
			h := &v1alpha2.Hook{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "edited"}}
			h.Spec.EventConfigurations = tt.configs
			create(t, h)
			waitAccepted(t, ns, "edited")
			waitAccepted(t, ns, "sentinel")

			fired := tt.fire(ns)
			create(t, fired[0]) // the first takes the agent's slot; the others wait behind it
			received(t, agent, "kagent/"+tt.busy, 1)
			for _, ev := range fired[1:] {
				create(t, ev)
			}
			eventually(t, 15*time.Second, func() error {
				if n := queueDepth(c, tt.busy); n != 1 {
					return fmt.Errorf("%d firings wait for %s, want the second one", n, tt.busy)
				}
				return nil
			})

			if tt.change != nil {
				editHook(t, ns, "edited", tt.change)
				waitAccepted(t, ns, "edited") // of the new generation: khook has taken the edit
			} else {
				if err := k8s.Delete(context.Background(), h); err != nil {
					t.Fatal(err)
				}
				eventually(t, 15*time.Second, func() error { // khook has dropped the Hook's state
					if n := queueDepth(c, tt.busy); n != 0 {
						return fmt.Errorf("%d firings of the deleted Hook still wait for %s", n, tt.busy)
					}
					return nil
				})
			}
			release.Do(func() { close(hold) }) // the investigations under way end; the slot is free
			if tt.after != nil {
				for _, ev := range tt.after(ns) {
					create(t, ev)
				}
			}

			everyAgentGot(t, c, agent, ns, tt.want)
			if tt.check != nil {
				eventually(t, 15*time.Second, func() error { return tt.check(t, ns) })
			}
		})
	}
}

func TestAHookDeletedAndRecreatedWhileACallIsUnderWayStartsAFreshLedger(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	var calls atomic.Int64
	agent.OnCall(func(r echoagent.Received) {
		// The deleted Hook's call (not the sentinel Hook's, which sees web-1 too): the agent takes
		// its time to answer it.
		if r.Agent == "kagent/recreate-agent" && calls.Add(1) == 1 {
			arrived <- struct{}{}
			select {
			case <-release:
			case <-time.After(time.Minute):
			}
		}
	})
	c := startKhook(t, onePerAgent(agent.URL))
	create(t, newHook(ns, "sentinel", "sentinel-agent", restartPrompt, "pod-restart"))
	old := newHook(ns, "recreated", "recreate-agent", restartPrompt, "pod-restart")
	create(t, old)
	waitAccepted(t, ns, "recreated")
	waitAccepted(t, ns, "sentinel")

	create(t, backOffEvent(ns, "web-1"))
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the first call never reached the agent")
	}
	create(t, backOffEvent(ns, "web-2")) // waits behind the call under way
	eventually(t, 15*time.Second, func() error {
		if n := queueDepth(c, "recreate-agent"); n != 1 {
			return fmt.Errorf("%d firings wait for the agent, want web-2", n)
		}
		return nil
	})
	if err := k8s.Delete(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, func() error { // khook has dropped the deleted Hook's state
		if n := queueDepth(c, "recreate-agent"); n != 0 {
			return fmt.Errorf("%d firings of the deleted Hook still wait", n)
		}
		return nil
	})
	recreated := newHook(ns, "recreated", "recreate-agent", restartPrompt, "pod-restart")
	create(t, recreated)
	waitAccepted(t, ns, "recreated")
	releaseOnce.Do(func() { close(release) }) // the deleted Hook's call ends now

	create(t, backOffEvent(ns, "web-1")) // the trouble goes on: news for the new Hook
	eventually(t, 30*time.Second, func() error {
		if n := receivedFor(agent, "kagent/recreate-agent", "web-1"); n != 2 {
			return fmt.Errorf("web-1 reached the agent %d times, want twice: once per Hook", n)
		}
		return nil
	})
	sendSentinel(t, agent, "kagent/sentinel-agent", ns, "sentinel")
	if n, m := receivedFor(agent, "kagent/recreate-agent", "web-1"), receivedFor(agent, "kagent/recreate-agent", "web-2"); n != 2 || m != 0 {
		t.Fatalf("web-1 reached the agent %d times and web-2 %d times; want 2 and 0 (web-2 waited for the deleted Hook)", n, m)
	}
	got := agent.ReceivedBy("kagent/recreate-agent")
	first, second := got[0], got[1]
	if first.MessageID == second.MessageID {
		t.Fatalf("the recreated Hook reused the deleted one's message id %s", first.MessageID)
	}

	// The recreated Hook's status shows its own firing only, whatever became of the old call.
	completedOnStatus(t, ns, "recreated", "kagent/recreate-agent", "web-1")
	a, d, _ := deliveryOf(t, ns, "recreated", "web-1", "kagent/recreate-agent")
	if d.MessageID != second.MessageID || d.TaskID != second.TaskID || len(a.Status.Deliveries) != 1 {
		t.Fatalf("the recreated Hook's ledger of web-1 is %+v, want its own message %s and task %s", a.Status.Deliveries, second.MessageID, second.TaskID)
	}
	for _, e := range hookStatus(t, ns, "recreated").ActiveEvents {
		if e.ResourceName == "web-2" {
			t.Fatalf("the recreated Hook shows the deleted one's firing of web-2: %+v", e)
		}
	}
	// The old call's outcome is recorded about the deleted Hook, not the recreated one.
	eventually(t, 15*time.Second, func() error {
		for _, e := range auditEvents(t, ns, "recreated") {
			if strings.Contains(e.Note, first.TaskID) {
				if e.Regarding.UID != old.UID {
					return fmt.Errorf("the deleted Hook's call is recorded about the recreated Hook (UID %s, the deleted one was %s): %s %q",
						e.Regarding.UID, old.UID, e.Reason, e.Note)
				}
				return nil
			}
		}
		return fmt.Errorf("no Event records the deleted Hook's call (task %s): %v", first.TaskID, auditReasons(t, ns, "recreated"))
	})
}
