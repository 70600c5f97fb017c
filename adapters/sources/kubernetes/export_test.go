package kubernetes

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"

	"github.com/khook-dev/khook/domain/event"
)

// DeletedPod is deletedPod, the informer's deletion unwrapped.
var DeletedPod = deletedPod

// The tracker, reached by this package's external tests (compiled only into the tests).

type Tracker = tracker

func NewTracker(p PodPolicy) *Tracker { return newTracker(p) }

func (t *tracker) PodSeen(old, pod *corev1.Pod, now time.Time) []event.Event {
	return t.podSeen(old, pod, now)
}

func (t *tracker) PodGone(pod *corev1.Pod, now time.Time) []event.Event { return t.podGone(pod, now) }

func (t *tracker) KubeEvent(ev *eventsv1.Event, pod *corev1.Pod, now time.Time) []event.Event {
	e, ok := FromEvent(ev)
	if !ok {
		return nil
	}
	return t.kubeEvent(ev, e, pod, now)
}

func (t *tracker) Scan(now time.Time) []event.Event {
	return t.scan(now, func(string) bool { return true })
}

// Following is how many pods the tracker keeps a record of.
func (t *tracker) Following() int { return len(t.pods) }
