package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/test/echoagent"
)

// Kubernetes records a repeat by updating the Event it wrote before: the events.k8s.io recorder
// bumps its series (count, lastObservedTime), the old core/v1 recorder its count and
// lastTimestamp. An update is news when the repeat is recent, even if the Event was first
// written long ago; a repeat of trouble that fires already is counted, not sent.

// oldEvent writes an Event about pod, first observed an hour ago (history: older than the
// dedup window), and returns how to record a repeat observed now, the count-th in all.
type oldEvent func(t *testing.T, ns, pod string) (repeat func(count int32))

// seriesEvent is an events.k8s.io Event whose repeats bump its series.
func seriesEvent(t *testing.T, ns, pod string) func(int32) {
	ev := backOffEvent(ns, pod)
	ev.EventTime = metav1.NewMicroTime(time.Now().Add(-time.Hour))
	create(t, ev)
	return func(count int32) { bumpSeries(t, ev, count) }
}

// countedEvent is a core/v1 Event, as the old recorder writes it: repeats bump its count and
// lastTimestamp.
func countedEvent(t *testing.T, ns, pod string) func(int32) {
	hourAgo := metav1.NewTime(time.Now().Add(-time.Hour))
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, GenerateName: pod + "."},
		InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: pod},
		Reason:         "BackOff", Message: "Back-off restarting failed container app in pod " + pod,
		Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
		FirstTimestamp: hourAgo, LastTimestamp: hourAgo, Count: 1, Type: corev1.EventTypeWarning,
	}
	create(t, ev)
	return func(count int32) {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(ev), ev); err != nil {
				return err
			}
			ev.Count, ev.LastTimestamp = count, metav1.Now()
			return k8s.Update(context.Background(), ev)
		})
		if err != nil {
			t.Fatalf("bumping the count of %s: %v", ev.Name, err)
		}
	}
}

func TestARepeatRecordedByUpdatingAnEventFiresOnceThenIsCountedNotSent(t *testing.T) {
	agent := startAgent(t, echoagent.Options{})
	startKhook(t, fastOptions(agent.URL))
	tests := []struct {
		name  string
		agent string
		write oldEvent
	}{
		{"an events.k8s.io Event whose series count is bumped", "series-agent", seriesEvent},
		{"a core/v1 Event whose count and lastTimestamp are bumped", "count-agent", countedEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := newNamespace(t)
			to := "kagent/" + tt.agent
			create(t, newHook(ns, "updates", tt.agent, restartPrompt, "pod-restart"))
			waitAccepted(t, ns, "updates")

			repeat := tt.write(t, ns, "web-1")
			sendSentinel(t, agent, to, ns, fmt.Sprintf("sentinel-%d", sentinels.Add(1)))
			if n := receivedFor(agent, to, "web-1"); n != 0 {
				t.Fatalf("an Event first observed an hour ago was sent %d times: it is history", n)
			}

			repeat(2) // observed now: news
			eventually(t, 30*time.Second, func() error {
				if n := receivedFor(agent, to, "web-1"); n != 1 {
					return fmt.Errorf("web-1 was sent %d times after its repeat, want once", n)
				}
				return nil
			})
			repeat(3) // the trouble fires already: counted, not sent
			sendSentinel(t, agent, to, ns, fmt.Sprintf("sentinel-%d", sentinels.Add(1)))
			if n := receivedFor(agent, to, "web-1"); n != 1 {
				t.Fatalf("web-1 was sent %d times, want once: a repeat of firing trouble is not news for the agent", n)
			}
			eventually(t, 30*time.Second, func() error {
				var a v1alpha2.ActiveEvent
				for _, e := range hookStatus(t, ns, "updates").ActiveEvents {
					if e.ResourceName == "web-1" {
						a = e
					}
				}
				if a.Occurrences != 2 {
					return fmt.Errorf("web-1 shows %d occurrences, want 2 (the repeat that fired and the one after)", a.Occurrences)
				}
				return nil
			})
		})
	}
}
