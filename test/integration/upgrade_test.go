package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"text/template"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/adapters/a2a"
	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
	"github.com/khook-dev/khook/test/echoagent"
)

// previousRelease is what the release before Investigations kept of one firing: the agent it
// told and the task that started.
type previousRelease struct {
	MessageID, ContextID, TaskID, Summary, EventName string
}

// TestAnUpgradeMovesThePreviousReleasesLedgerToInvestigationsAndSendsNothingAgain plays the
// previous release: it tells two agents of two firings (one task completes, one is still at
// work) and writes the Hook's status as that release did, ledger included
// (testdata/upgrade/previous-release-status.json.tmpl was written by it). Then this release
// starts: each firing becomes an Investigation carrying its ledger, nothing is sent again, the
// task at work is followed to its end, and the Hook's status becomes the summary.
func TestAnUpgradeMovesThePreviousReleasesLedgerToInvestigationsAndSendsNothingAgain(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	hold := make(chan struct{})
	agent.SetBehavior("kagent/slow-agent", echoagent.Behavior{Hold: hold, Summary: "the database ran out of memory"})
	h := newHook(ns, "restarts", "k8s-agent", restartPrompt, "pod-restart")
	h.Spec.EventConfigurations = append(h.Spec.EventConfigurations, newHook(ns, "", "slow-agent", restartPrompt, "oom-kill").Spec.EventConfigurations...)
	create(t, h)
	web, db := backOffEvent(ns, "web-1"), podEvent(ns, "db-0", "OOMKilling", "Memory cgroup out of memory: Killed process 7 (postgres)")
	create(t, web)
	create(t, db)

	// The previous release tells the agents, and records it on the Hook.
	old := map[string]previousRelease{
		"web": tellAsThePreviousRelease(t, agent, h, "kagent/k8s-agent", "pod-restart", "web-1", ports.TaskCompleted),
		"db":  tellAsThePreviousRelease(t, agent, h, "kagent/slow-agent", "oom-kill", "db-0", ports.TaskWorking),
	}
	webOld, dbOld := old["web"], old["db"]
	webOld.EventName, dbOld.EventName = web.Name, db.Name
	writePreviousReleaseStatus(t, h, webOld, dbOld)

	// This release starts.
	startKhook(t, fastOptions(agent.URL))
	for _, c := range []struct {
		pod, agent string
		was        previousRelease
		state      string
	}{
		{"web-1", "kagent/k8s-agent", webOld, "completed"},
		{"db-0", "kagent/slow-agent", dbOld, "working"},
	} {
		eventually(t, 30*time.Second, func() error {
			inv, d, err := deliveryOf(t, ns, "restarts", c.pod, c.agent)
			if err != nil {
				return err
			}
			if d.MessageID != c.was.MessageID || d.TaskID != c.was.TaskID || d.ContextID != c.was.ContextID || string(d.State) != c.state {
				return fmt.Errorf("investigation %s of %s carries %+v, want the previous release's message %s, task %s, %s",
					inv.Name, c.pod, d, c.was.MessageID, c.was.TaskID, c.state)
			}
			return nil
		})
	}
	eventually(t, 30*time.Second, func() error { // the status is the summary now: no ledger
		st := hookStatus(t, ns, "restarts")
		if len(st.ActiveEvents) != 2 {
			return fmt.Errorf("status shows %d events, want the 2 firings", len(st.ActiveEvents))
		}
		for _, a := range st.ActiveEvents {
			if len(a.Deliveries) > 0 || a.Event != nil || a.Investigation == "" {
				return fmt.Errorf("event %s still has the previous release's ledger, or no investigation: %+v", a.ResourceName, a)
			}
		}
		return nil
	})

	// The task at work is followed to its end; nothing was sent again.
	close(hold)
	eventually(t, 30*time.Second, func() error {
		_, d, err := deliveryOf(t, ns, "restarts", "db-0", "kagent/slow-agent")
		if err != nil {
			return err
		}
		if d.State != "completed" || d.Summary != "the database ran out of memory" {
			return fmt.Errorf("db-0's investigation says %+v, want completed with the agent's summary", d)
		}
		return nil
	})
	create(t, backOffEvent(ns, "web-1")) // the trouble goes on
	sendSentinel(t, agent, "kagent/k8s-agent", ns, "sentinel")
	for _, c := range []struct{ agent, pod string }{{"kagent/k8s-agent", "web-1"}, {"kagent/slow-agent", "db-0"}} {
		if n := receivedFor(agent, c.agent, c.pod); n != 1 {
			t.Fatalf("%s got %d messages about %s, want only the previous release's", c.agent, n, c.pod)
		}
	}
	eventually(t, 30*time.Second, func() error { // the sentinel's is written a moment after its send
		var list v1alpha2.InvestigationList
		if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(list.Items) != 3 { // web-1, db-0 and the sentinel
			return fmt.Errorf("%d investigations, want one per firing (3)", len(list.Items))
		}
		return nil
	})
}

// tellAsThePreviousRelease sends agent the firing of pod as the previous release did, and waits
// until its task is in state want.
func tellAsThePreviousRelease(t *testing.T, agentSrv *echoagent.Server, h *v1alpha2.Hook, agent, eventType, pod string, want ports.TaskState) previousRelease {
	t.Helper()
	caller, err := a2a.NewCaller(a2a.Config{KagentURL: agentSrv.URL, UserID: "tester@khook.dev", Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := hook.ParseAgentID(agent, "")
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	task, err := caller.Send(ctx, ports.AgentRequest{Hook: hook.Ref{Namespace: h.Namespace, Name: h.Name}, Agent: ref,
		Prompt: fmt.Sprintf("Pod %s in %s: %s", pod, h.Namespace, eventType), MessageID: hex.EncodeToString(id),
		EventType: eventType, ResourceName: pod, EventTime: time.Now()})
	if err != nil {
		t.Fatalf("telling %s as the previous release: %v", agent, err)
	}
	was := previousRelease{MessageID: hex.EncodeToString(id), ContextID: task.ContextID, TaskID: task.ID}
	eventually(t, 15*time.Second, func() error {
		got, err := caller.GetTask(ctx, ref, task.ID)
		if err != nil {
			return err
		}
		if got.State != want {
			return fmt.Errorf("task %s is %s, want %s", task.ID, got.State, want)
		}
		was.Summary = got.Summary
		return nil
	})
	return was
}

// writePreviousReleaseStatus writes the Hook's status as the previous release did.
func writePreviousReleaseStatus(t *testing.T, h *v1alpha2.Hook, web, db previousRelease) {
	t.Helper()
	text, err := os.ReadFile("../testdata/upgrade/previous-release-status.json.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	tmpl := template.Must(template.New("status").Funcs(template.FuncMap{"json": func(s string) (string, error) {
		b, err := json.Marshal(s)
		return string(b), err
	}}).Parse(string(text)))
	var out bytes.Buffer
	if err := tmpl.Execute(&out, map[string]any{"Namespace": h.Namespace, "Now": time.Now().UTC().Format(time.RFC3339), "Web": web, "DB": db}); err != nil {
		t.Fatal(err)
	}
	var current v1alpha2.Hook
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(h), &current); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out.Bytes(), &current.Status); err != nil {
		t.Fatalf("the previous release's status: %v", err)
	}
	current.Status.ObservedGeneration = current.Generation
	if err := k8s.Status().Update(context.Background(), &current); err != nil {
		t.Fatalf("writing the previous release's status: %v", err)
	}
}
