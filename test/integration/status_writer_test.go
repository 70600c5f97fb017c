package integration

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/test/echoagent"
)

// otherWriter writes a Hook's status over and over beside khook, as another controller (or an
// older khook during an upgrade) would: a condition of its own, read, changed and updated, and
// the fields khook owns wiped.
type otherWriter struct {
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	rounds atomic.Int64
}

func startOtherWriter(t *testing.T, ns, name string) *otherWriter {
	t.Helper()
	w := &otherWriter{stop: make(chan struct{}), done: make(chan struct{})}
	key := client.ObjectKey{Namespace: ns, Name: name}
	wipe := client.RawPatch(types.MergePatchType, []byte(`{"status":{"activeEvents":null,"firingEvents":0}}`))
	go func() {
		defer close(w.done)
		for i := 1; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			var h v1alpha2.Hook
			if err := k8s.Get(context.Background(), key, &h); err == nil {
				meta.SetStatusCondition(&h.Status.Conditions, metav1.Condition{Type: "ExternalCheck", Status: metav1.ConditionTrue,
					Reason: "Checked", Message: fmt.Sprintf("round %d", i), ObservedGeneration: h.Generation})
				_ = k8s.Status().Update(context.Background(), &h) // a conflict loses this round
			}
			_ = k8s.Status().Patch(context.Background(), &v1alpha2.Hook{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, wipe)
			w.rounds.Add(1)
			time.Sleep(10 * time.Millisecond) // a busy writer, not a spinning one
		}
	}()
	t.Cleanup(func() { w.Stop(t) })
	return w
}

// Stop stops the writer and waits for it.
func (w *otherWriter) Stop(t *testing.T) {
	w.once.Do(func() { close(w.stop) })
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		t.Error("the other status writer did not stop")
	}
}

func TestAnotherStatusWriterMakesKhookLoseNoCallRepeatNoneAndStormNot(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	// Tasks that take a while, so that khook changes the ledger while the other writer runs.
	agent.SetBehavior("kagent/contended-agent", echoagent.Behavior{Duration: 300 * time.Millisecond})
	cfg, requests := counting(restConfig)
	startManagerWithConfig(t, cfg, fastOptions(agent.URL), nil).waitReady(t)
	create(t, newHook(ns, "contended", "contended-agent", restartPrompt, "pod-restart"))
	waitAccepted(t, ns, "contended")

	other := startOtherWriter(t, ns, "contended")
	const firings = 8
	var pods []string
	for i := range firings {
		pods = append(pods, fmt.Sprintf("web-%d", i))
		create(t, backOffEvent(ns, pods[i]))
	}
	everyFiringOnce(t, agent, "kagent/contended-agent", ns, pods...)
	eventually(t, 30*time.Second, func() error { // every investigation ended while the other writer ran
		if n := agent.Requests("kagent/contended-agent", "GetTask"); n < firings {
			return fmt.Errorf("%d polls, want the tasks followed to their end", n)
		}
		return nil
	})
	// The other writer goes on for a while after khook's last change: each of its rounds leaves
	// the status unlike khook's, which must not make khook write again.
	rounds := other.rounds.Load()
	eventually(t, 60*time.Second, func() error {
		if n := other.rounds.Load(); n < rounds+100 {
			return fmt.Errorf("the other writer wrote %d rounds since khook's last change, want 100", n-rounds)
		}
		return nil
	})
	other.Stop(t)
	patches, updates := requests.statusWrites(ns, "contended")
	t.Logf("khook wrote the status %d times (%d patches, %d updates) for %d firings while the other writer wrote it %d times",
		patches+updates, patches, updates, firings+1, 2*other.rounds.Load())

	// khook's next change writes back the whole of what it owns, and leaves the rest alone.
	create(t, backOffEvent(ns, "web-last"))
	all := append(pods, "web-last")
	everyFiringOnce(t, agent, "kagent/contended-agent", ns, all...)
	completedOnStatus(t, ns, "contended", "kagent/contended-agent", all...)
	eventually(t, 30*time.Second, func() error {
		st := hookStatus(t, ns, "contended")
		if int(st.FiringEvents) != len(st.ActiveEvents) || len(st.ActiveEvents) < len(all) {
			return fmt.Errorf("status shows %d firing of %d active events, want all %d and more (sentinels) firing", st.FiringEvents, len(st.ActiveEvents), len(all))
		}
		for _, typ := range []string{"ExternalCheck", "Accepted", "Delivering"} {
			if c := meta.FindStatusCondition(st.Conditions, typ); c == nil || c.Status != metav1.ConditionTrue {
				return fmt.Errorf("condition %s = %+v, want it kept and true", typ, c)
			}
		}
		return nil
	})

	// No retry storm: khook's writes follow its own changes, not the other writer's. Each firing
	// changes the ledger four times at most (firing, sending, accepted, ended), often coalesced
	// into fewer writes; a condition write or two, retried on conflict a few times, come on top.
	if limit := 5 * (firings + 1); patches+updates > limit {
		t.Fatalf("khook wrote the status %d times for %d firings (%d patches, %d updates); more than %d is a storm",
			patches+updates, firings+1, patches, updates, limit)
	}
}
