package kubernetes

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/go-logr/logr"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

// SourceName is the Source of every event this package produces.
const SourceName = "kubernetes"

// NamespaceFilter says whether events of a namespace can matter; the matching index is one.
type NamespaceFilter interface {
	WatchesNamespace(ns string) bool
}

// EventSource turns Kubernetes Events and Pod status changes into khook events.
type EventSource struct {
	Cache  cache.Informers
	Filter NamespaceFilter
	Clock  clock.PassiveClock
	// MaxAge: Events older than this when first listed are history, not news.
	MaxAge EventMaxAge
	Log    logr.Logger
}

var _ ports.EventSource = (*EventSource)(nil)

// EventMaxAge is how old an Event listed at start-up may be and still count as news; the app
// sets it to the dedup window.
type EventMaxAge time.Duration

// Info implements ports.EventSource.
func (s *EventSource) Info() ports.SourceInfo {
	return ports.SourceInfo{Name: SourceName, Version: "v1", EventTypes: event.KubernetesTypes}
}

// Init implements ports.EventSource; the Kubernetes source takes no settings yet.
func (s *EventSource) Init(_ context.Context, settings ports.Settings) error {
	if len(settings) > 0 {
		return fmt.Errorf("source %s takes no settings", SourceName)
	}
	return nil
}

// Stop implements ports.EventSource; Watch removes its handlers itself.
func (s *EventSource) Stop(context.Context) error { return nil }

// Watch registers handlers on the shared informers, says it is running once they are in place,
// and removes them when ctx is done.
func (s *EventSource) Watch(ctx context.Context, sink ports.EventSink, running func()) error {
	events, err := s.Cache.GetInformer(ctx, &eventsv1.Event{})
	if err != nil {
		return fmt.Errorf("getting the events informer: %w", err)
	}
	pods, err := s.Cache.GetInformer(ctx, &corev1.Pod{})
	if err != nil {
		return fmt.Errorf("getting the pods informer: %w", err)
	}
	deliver := func(e event.Event, ok bool) {
		// Cluster-wide events (no namespace) go to the pipeline, whose index knows who gets them.
		if ok && (e.Namespace == "" || s.Filter.WatchesNamespace(e.Namespace)) {
			sink.Handle(ctx, e)
		}
	}
	evReg, err := events.AddEventHandler(toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, _ bool) {
			if ev, ok := obj.(*eventsv1.Event); ok {
				deliver(s.fromEvent(ev, true))
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*eventsv1.Event)
			ev, ok2 := newObj.(*eventsv1.Event)
			if ok1 && ok2 && old.ResourceVersion != ev.ResourceVersion { // same version: a resync
				deliver(s.fromEvent(ev, false))
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watching events: %w", err)
	}
	defer func() { _ = events.RemoveEventHandler(evReg) }()
	podReg, err := pods.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		// A pod's restarts before we started are history: only changes count.
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*corev1.Pod)
			pod, ok2 := newObj.(*corev1.Pod)
			if !ok1 || !ok2 || old.ResourceVersion == pod.ResourceVersion || !s.Filter.WatchesNamespace(pod.Namespace) {
				return
			}
			for _, e := range FromPodChange(old, pod, s.Clock.Now()) {
				sink.Handle(ctx, e)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watching pods: %w", err)
	}
	defer func() { _ = pods.RemoveEventHandler(podReg) }()
	s.Log.Info("watching Kubernetes events and pods", "maxAge", time.Duration(s.MaxAge).String())
	running()
	<-ctx.Done()
	return nil
}

func (s *EventSource) fromEvent(ev *eventsv1.Event, listed bool) (event.Event, bool) {
	e, ok := FromEvent(ev)
	if !ok {
		return e, false
	}
	if listed && s.MaxAge > 0 && s.Clock.Since(e.Timestamp) > time.Duration(s.MaxAge) {
		return e, false // history from before we started
	}
	return e, true
}

var probeMessage = regexp.MustCompile(`(?i)\b(liveness|readiness|startup) probe\b`)

// FromEvent maps a Kubernetes Event to a khook event, by reason and the kind of object:
//
//	BackOff "Back-off restarting failed container" on a Pod → pod-restart
//	FailedScheduling on a Pod                                → pod-pending
//	Unhealthy with a liveness/readiness/startup probe message → probe-failed
//	OOMKilling (from the node's kernel monitor)               → oom-kill
//
// Anything else, such as Killing ("Stopping container", sent on every pod deletion), or
// BackOff pulling an image, is not trouble khook reports.
func FromEvent(ev *eventsv1.Event) (event.Event, bool) {
	kind, note := ev.Regarding.Kind, ev.Note
	var t event.Type
	switch {
	case ev.Reason == "BackOff" && kind == "Pod" && strings.Contains(strings.ToLower(note), "restarting failed container"):
		t = event.PodRestart
	case ev.Reason == "FailedScheduling" && kind == "Pod":
		t = event.PodPending
	case ev.Reason == "Unhealthy" && kind == "Pod" && probeMessage.MatchString(note):
		t = event.ProbeFailed
	case ev.Reason == "OOMKilling":
		t = event.OOMKill
	default:
		return event.Event{}, false
	}
	// A cluster-scoped object (a Node's OOMKilling) keeps an empty namespace, whatever namespace
	// the Event object itself lives in: it is cluster-wide trouble (see package matching).
	ns := ev.Regarding.Namespace
	meta := map[string]string{"eventName": ev.Name, "reportingController": ev.ReportingController}
	if ev.Regarding.FieldPath != "" {
		meta["fieldPath"] = ev.Regarding.FieldPath
	}
	return event.Event{
		Type: t, ResourceKind: kind, ResourceName: ev.Regarding.Name, Namespace: ns,
		Reason: ev.Reason, Message: note, Timestamp: timeOfEvent(ev), Source: SourceName, Metadata: meta,
	}, true
}

func timeOfEvent(ev *eventsv1.Event) time.Time {
	switch {
	case ev.Series != nil && !ev.Series.LastObservedTime.IsZero():
		return ev.Series.LastObservedTime.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	case !ev.DeprecatedLastTimestamp.IsZero():
		return ev.DeprecatedLastTimestamp.Time
	default:
		return ev.CreationTimestamp.Time
	}
}

// FromPodChange finds the trouble a Pod status change shows: a container whose restartCount
// grew is a pod-restart; one whose last termination is a new OOMKilled is an oom-kill too.
func FromPodChange(old, pod *corev1.Pod, now time.Time) []event.Event {
	// A container that was restarted shows it in restartCount and lastState.
	before := map[string]corev1.ContainerStatus{}
	for _, cs := range append(append([]corev1.ContainerStatus{}, old.Status.InitContainerStatuses...), old.Status.ContainerStatuses...) {
		before[cs.Name] = cs
	}
	var out []event.Event
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		prev, known := before[cs.Name]
		if !known {
			continue
		}
		// A container that will not restart (restartPolicy Never) shows the kill in its state.
		if state := cs.State.Terminated; state != nil && state.Reason == "OOMKilled" && prev.State.Terminated == nil {
			out = append(out, oomKill(pod, cs.Name, state, cs.RestartCount, now))
		}
		if cs.RestartCount <= prev.RestartCount {
			continue
		}
		term := cs.LastTerminationState.Terminated
		when, detail := now, "no termination recorded"
		if term != nil {
			if !term.FinishedAt.IsZero() {
				when = term.FinishedAt.Time
			}
			detail = fmt.Sprintf("last exit: %s (code %d)", term.Reason, term.ExitCode)
		}
		meta := map[string]string{"container": cs.Name, "restartCount": fmt.Sprint(cs.RestartCount)}
		out = append(out, event.Event{
			Type: event.PodRestart, ResourceKind: "Pod", ResourceName: pod.Name, Namespace: pod.Namespace,
			Reason: "ContainerRestarted", Message: fmt.Sprintf("container %s restarted (restart count %d); %s", cs.Name, cs.RestartCount, detail),
			Timestamp: when, Source: SourceName, Metadata: meta,
		})
		if term != nil && term.Reason == "OOMKilled" {
			out = append(out, oomKill(pod, cs.Name, term, cs.RestartCount, when))
		}
	}
	return out
}

func oomKill(pod *corev1.Pod, container string, term *corev1.ContainerStateTerminated, restarts int32, when time.Time) event.Event {
	if !term.FinishedAt.IsZero() {
		when = term.FinishedAt.Time
	}
	return event.Event{
		Type: event.OOMKill, ResourceKind: "Pod", ResourceName: pod.Name, Namespace: pod.Namespace,
		Reason: "OOMKilled", Message: fmt.Sprintf("container %s was killed for running out of memory (exit code %d)", container, term.ExitCode),
		Timestamp: when, Source: SourceName,
		Metadata: map[string]string{"container": container, "restartCount": fmt.Sprint(restarts)},
	}
}
