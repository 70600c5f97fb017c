package kubernetes

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/khook-dev/khook/domain/event"
)

// The decisions in this file are pure functions of a Pod and the time, in the style of
// kube-state-metrics: a Pod in, the trouble it shows out. The tracker (tracker.go) remembers
// what was reported and turns a decision into a firing, a re-assertion or a resolution.

// Defaults of the Kubernetes source's settings (see EventSource.Init).
const (
	// DefaultPendingGrace: a pod the scheduler cannot place is pod-pending once it has been so
	// for this long. A busy scheduler or a cluster autoscaler adding a node often places a pod
	// within a minute; beyond that a person would want to know.
	DefaultPendingGrace = time.Minute
	// DefaultRestartRecovery: a pod-restart resolves once every container that restarted has
	// run ready for this long. It is the kubelet's longest crash-loop back-off (300s), so a
	// container that crashes again within the time its back-off could take is still the same
	// trouble, and it is shorter than the dedup window (10m), so that recovery, not silence,
	// ends the firing.
	DefaultRestartRecovery = 5 * time.Minute
	// DefaultWindow is the dedup window the source assumes when it is given none.
	DefaultWindow = 10 * time.Minute
)

// PodPolicy holds the numbers the decisions use, the node decision's too.
type PodPolicy struct {
	// PendingGrace: how long a pod may be unschedulable before it is pod-pending.
	PendingGrace time.Duration
	// RestartRecovery: how long restarted containers must run ready before pod-restart resolves.
	RestartRecovery time.Duration
	// NodeGrace: how long a Node may be not ready before it is node-not-ready.
	NodeGrace time.Duration
	// Window is the dedup window: edges (a restart, an OOM kill) older than this when a Pod is
	// listed are history, and levels are re-asserted every Window/3 so that silence never
	// resolves trouble that holds.
	Window time.Duration
}

// withDefaults fills the zero fields; a zero PendingGrace or RestartRecovery set explicitly
// through Init is kept (see EventSource.Init).
func (p PodPolicy) withDefaults() PodPolicy {
	if p.Window <= 0 {
		p.Window = DefaultWindow
	}
	return p
}

// Reassert is how often trouble that holds is sent again: a third of the window, so that two
// re-assertions may be lost before silence would resolve it.
func (p PodPolicy) Reassert() time.Duration { return p.Window / 3 }

// ScanInterval is how often the trackers look at the pods and nodes they follow: a quarter of
// the shortest of the grace periods, the recovery time and the re-assertion interval, between 1s
// and 30s. With the defaults it is 15s, so pod-pending and node-not-ready fire at most 15s after
// their grace periods.
func (p PodPolicy) ScanInterval() time.Duration {
	shortest := p.Reassert()
	for _, d := range []time.Duration{p.PendingGrace, p.RestartRecovery, p.NodeGrace} {
		if d > 0 && d < shortest {
			shortest = d
		}
	}
	return min(max(shortest/4, time.Second), 30*time.Second)
}

// Level is what a Pod shows now about one kind of trouble that lasts.
type Level int

const (
	// Clear: the Pod shows no such trouble; what was reported is resolved.
	Clear Level = iota
	// Waiting: not trouble yet, or not over yet (unschedulable within the grace period,
	// restarted but not yet ready for the recovery time, being deleted): what was reported
	// stays firing, nothing new fires.
	Waiting
	// Troubled: the Pod shows the trouble now: it fires, and is re-asserted while it holds.
	Troubled
)

func (l Level) String() string {
	switch l {
	case Clear:
		return "clear"
	case Waiting:
		return "waiting"
	default:
		return "troubled"
	}
}

// Pod condition and container reasons the decisions read.
const (
	reasonUnschedulable    = "Unschedulable"
	reasonSchedulingGated  = "SchedulingGated"
	reasonCrashLoopBackOff = "CrashLoopBackOff"
	reasonOOMKilled        = "OOMKilled"
)

// PendingLevel says whether pod is pod-pending at now: its PodScheduled condition is False for
// a reason other than a scheduling gate (normally Unschedulable) since at least grace ago.
// Troubled comes with the trouble event, Clear with the resolution (recovered) to send if
// pod-pending was reported.
func PendingLevel(pod *corev1.Pod, now time.Time, grace time.Duration) (Level, event.Event) {
	if pod.DeletionTimestamp != nil {
		return Waiting, event.Event{} // the deletion resolves it
	}
	if terminal(pod) {
		return Clear, resolution(pod, event.PodPending, "PodFinished", fmt.Sprintf("pod finished (phase %s) without being scheduled", pod.Status.Phase), now)
	}
	if pod.Spec.NodeName != "" {
		return Clear, resolution(pod, event.PodPending, "Scheduled", "pod scheduled on node "+pod.Spec.NodeName, now)
	}
	cond := podCondition(pod, corev1.PodScheduled)
	switch {
	case cond == nil:
		return Clear, resolution(pod, event.PodPending, "Scheduled", "pod no longer shows a scheduling failure", now)
	case cond.Status == corev1.ConditionTrue:
		return Clear, resolution(pod, event.PodPending, "Scheduled", "pod scheduled", now)
	case cond.Status != corev1.ConditionFalse:
		return Waiting, event.Event{}
	case cond.Reason == reasonSchedulingGated || len(pod.Spec.SchedulingGates) > 0:
		// A gate holds the pod back on purpose (printPod shows SchedulingGated): not a failure.
		return Clear, resolution(pod, event.PodPending, reasonSchedulingGated, "pod waits for its scheduling gates", now)
	}
	since := cond.LastTransitionTime.Time
	if since.IsZero() {
		since = pod.CreationTimestamp.Time
	}
	if now.Sub(since) < grace {
		return Waiting, event.Event{}
	}
	reason := cond.Reason
	if reason == "" {
		reason = reasonUnschedulable
	}
	msg := cond.Message
	if msg == "" {
		msg = "the scheduler cannot place the pod"
	}
	e := podEvent(pod, event.PodPending)
	e.Reason, e.Message, e.Timestamp = reason, msg, since
	e.Metadata = map[string]string{"condition": string(corev1.PodScheduled), "pendingSince": since.UTC().Format(time.RFC3339)}
	return Troubled, e
}

// RestartLevel says whether pod is pod-restart at now. A container (init, sidecar or regular)
// waiting in CrashLoopBackOff is Troubled. Otherwise the pod is Clear once every container that
// has restarted runs ready, or has completed successfully, since at least recovery ago, and
// Waiting until then. A finished pod (Succeeded, Failed) restarts nothing more: Clear.
func RestartLevel(pod *corev1.Pod, now time.Time, recovery time.Duration) (Level, event.Event) {
	if pod.DeletionTimestamp != nil {
		return Waiting, event.Event{}
	}
	if terminal(pod) {
		return Clear, resolution(pod, event.PodRestart, "PodFinished", fmt.Sprintf("pod finished (phase %s); nothing restarts any more", pod.Status.Phase), now)
	}
	var since time.Time // when the last restarted container became healthy
	var restarted bool
	for _, c := range containersOf(pod) {
		cs := c.status
		if w := cs.State.Waiting; w != nil && w.Reason == reasonCrashLoopBackOff {
			return Troubled, crashLoop(pod, c, now)
		}
		if cs.RestartCount == 0 {
			continue
		}
		restarted = true
		switch t := cs.State.Terminated; {
		case t != nil && t.ExitCode == 0: // completed (an init container, a Job's): recovered
			since = later(since, t.FinishedAt.Time)
		case c.kind == initContainer: // runs to completion, and has not yet
			return Waiting, event.Event{}
		default: // regular and sidecar containers run on
			r := cs.State.Running
			if r == nil || !cs.Ready {
				return Waiting, event.Event{}
			}
			since = later(since, r.StartedAt.Time)
			if cond := podCondition(pod, corev1.ContainersReady); cond != nil && cond.Status == corev1.ConditionTrue {
				since = later(since, cond.LastTransitionTime.Time) // readiness has no per-container time
			}
		}
	}
	if !restarted {
		return Clear, resolution(pod, event.PodRestart, "Recovered", "no container of the pod has restarted or is crash-looping", now)
	}
	if now.Sub(since) < recovery {
		return Waiting, event.Event{}
	}
	return Clear, resolution(pod, event.PodRestart, "Recovered",
		fmt.Sprintf("every restarted container has run ready for %s", now.Sub(since).Truncate(time.Second)), now)
}

// FromPodListing finds the news in a Pod seen for the first time (at start-up, after a leader
// change, or when it is created): a container whose last termination (an OOM kill, or any exit
// followed by a restart) ended within window is news; older ones are history. A termination
// without a time is history too. Lasting trouble (PendingLevel, RestartLevel) is judged apart.
func FromPodListing(pod *corev1.Pod, now time.Time, window time.Duration) []event.Event {
	var out []event.Event
	recent := func(t *corev1.ContainerStateTerminated) bool {
		return t != nil && !t.FinishedAt.IsZero() && now.Sub(t.FinishedAt.Time) < window
	}
	for _, c := range containersOf(pod) {
		cs := c.status
		if last := cs.LastTerminationState.Terminated; cs.RestartCount > 0 && recent(last) {
			out = append(out, restarted(pod, c, now))
			if last.Reason == reasonOOMKilled {
				out = append(out, oomKill(pod, c, last, now))
			}
		}
		if t := cs.State.Terminated; recent(t) && t.Reason == reasonOOMKilled {
			out = append(out, oomKill(pod, c, t, now))
		}
	}
	return out
}

// FromPodChange finds the trouble a Pod status change shows: a container whose restartCount
// grew is a pod-restart; one whose last termination is a new OOMKilled is an oom-kill too.
// Init and sidecar containers count like the others.
func FromPodChange(old, pod *corev1.Pod, now time.Time) []event.Event {
	var out []event.Event
	for _, c := range containersOf(pod) {
		cs := c.status
		prev, known := statusOf(old, c.kind, cs.Name)
		if !known {
			continue
		}
		// A container that will not restart (restartPolicy Never) shows the kill in its state.
		if state := cs.State.Terminated; state != nil && state.Reason == reasonOOMKilled && prev.State.Terminated == nil {
			out = append(out, oomKill(pod, c, state, now))
		}
		if cs.RestartCount <= prev.RestartCount {
			continue
		}
		out = append(out, restarted(pod, c, now))
		if term := cs.LastTerminationState.Terminated; term != nil && term.Reason == reasonOOMKilled {
			out = append(out, oomKill(pod, c, term, now))
		}
	}
	return out
}

// FromPodEvent is FromEvent for an Event about a Pod, with what the informer's cache knows of
// that Pod (nil when it knows nothing): a probe failure on a pod being deleted is the kubelet
// stopping it, not trouble; an Event about an earlier pod of the same name (another UID) is
// about a pod that is gone. The event names the Pod's node and direct controller and carries its
// labels (see podEvent) when the Pod is known, and no labels when it is not.
func FromPodEvent(ev *eventsv1.Event, pod *corev1.Pod) (event.Event, bool) {
	e, ok := FromEvent(ev)
	if !ok || ignoredForPod(ev, e, pod) {
		return event.Event{}, false
	}
	return withSubject(e, pod), true
}

// ignoredForPod says whether e, read from ev, is not trouble given the Pod it is about.
func ignoredForPod(ev *eventsv1.Event, e event.Event, pod *corev1.Pod) bool {
	if pod == nil || e.ResourceKind != "Pod" {
		return false
	}
	if ev.Regarding.UID != "" && ev.Regarding.UID != pod.UID {
		return true
	}
	return e.Type == event.ProbeFailed && pod.DeletionTimestamp != nil
}

// containerKind tells init (run to completion), sidecar (restartable init) and regular
// containers apart.
type containerKind int

const (
	regularContainer containerKind = iota
	initContainer
	sidecarContainer
)

type container struct {
	kind   containerKind
	status corev1.ContainerStatus
}

func (c container) label() string {
	switch c.kind {
	case initContainer:
		return "init container " + c.status.Name
	case sidecarContainer:
		return "sidecar container " + c.status.Name
	default:
		return "container " + c.status.Name
	}
}

// containersOf lists the pod's container statuses, init ones first; an init container whose
// spec says restartPolicy Always is a sidecar.
func containersOf(pod *corev1.Pod) []container {
	out := make([]container, 0, len(pod.Status.InitContainerStatuses)+len(pod.Status.ContainerStatuses))
	for _, cs := range pod.Status.InitContainerStatuses {
		kind := initContainer
		for _, spec := range pod.Spec.InitContainers {
			if spec.Name == cs.Name && spec.RestartPolicy != nil && *spec.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				kind = sidecarContainer
			}
		}
		out = append(out, container{kind: kind, status: cs})
	}
	for _, cs := range pod.Status.ContainerStatuses {
		out = append(out, container{kind: regularContainer, status: cs})
	}
	return out
}

func statusOf(pod *corev1.Pod, kind containerKind, name string) (corev1.ContainerStatus, bool) {
	list := pod.Status.ContainerStatuses
	if kind != regularContainer {
		list = pod.Status.InitContainerStatuses
	}
	for _, cs := range list {
		if cs.Name == name {
			return cs, true
		}
	}
	return corev1.ContainerStatus{}, false
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func lastExit(cs corev1.ContainerStatus) (*corev1.ContainerStateTerminated, string) {
	term := cs.LastTerminationState.Terminated
	if term == nil {
		return nil, "no termination recorded"
	}
	return term, fmt.Sprintf("last exit: %s (code %d)", term.Reason, term.ExitCode)
}

func restarted(pod *corev1.Pod, c container, now time.Time) event.Event {
	cs := c.status
	term, detail := lastExit(cs)
	when := now
	if term != nil && !term.FinishedAt.IsZero() {
		when = term.FinishedAt.Time
	}
	e := podEvent(pod, event.PodRestart)
	e.Reason, e.Message = "ContainerRestarted", fmt.Sprintf("%s restarted (restart count %d); %s", c.label(), cs.RestartCount, detail)
	e.Timestamp, e.Metadata = when, map[string]string{"container": cs.Name, "restartCount": fmt.Sprint(cs.RestartCount)}
	return e
}

func crashLoop(pod *corev1.Pod, c container, now time.Time) event.Event {
	cs := c.status
	_, detail := lastExit(cs)
	e := podEvent(pod, event.PodRestart)
	e.Reason, e.Message = reasonCrashLoopBackOff, fmt.Sprintf("%s is crash-looping (restart count %d); %s", c.label(), cs.RestartCount, detail)
	e.Timestamp, e.Metadata = now, map[string]string{"container": cs.Name, "restartCount": fmt.Sprint(cs.RestartCount)}
	return e
}

func oomKill(pod *corev1.Pod, c container, term *corev1.ContainerStateTerminated, now time.Time) event.Event {
	when := now
	if !term.FinishedAt.IsZero() {
		when = term.FinishedAt.Time
	}
	e := podEvent(pod, event.OOMKill)
	e.Reason, e.Message = reasonOOMKilled, fmt.Sprintf("%s was killed for running out of memory (exit code %d)", c.label(), term.ExitCode)
	e.Timestamp, e.Metadata = when, map[string]string{"container": c.status.Name, "restartCount": fmt.Sprint(c.status.RestartCount)}
	return e
}

// resolution is the event that ends trouble of type t on pod because the pod shows it is over.
func resolution(pod *corev1.Pod, t event.Type, reason, msg string, now time.Time) event.Event {
	e := podEvent(pod, t)
	e.Reason, e.Message, e.Timestamp, e.Resolution = reason, msg, now, event.Recovered
	return e
}

// deletion is the event that ends trouble of type t on pod because it is gone.
func deletion(pod *corev1.Pod, t event.Type, now time.Time) event.Event {
	e := podEvent(pod, t)
	e.Reason, e.Message, e.Timestamp, e.Resolution = "PodDeleted", "pod deleted", now, event.Deleted
	return e
}

// podEvent is the start of every event about pod: its type, the Pod, the source, and where it
// belongs (see withSubject).
func podEvent(pod *corev1.Pod, t event.Type) event.Event {
	return withSubject(event.Event{Type: t, ResourceKind: "Pod", ResourceName: pod.Name, Namespace: pod.Namespace, Source: SourceName}, pod)
}

// withSubject sets on e, an event about pod (nil: unknown, e is returned as it is), the node pod
// is bound to, its labels (the cache's map, shared: see event.Event's Labels), and its direct
// controller as the workload: the owner reference marked controller (ownerReferences[0] may be
// another owner), none when it has none. The tracker follows a ReplicaSet or a Job up to its
// own controller (owners.go); the pure decisions stop here.
func withSubject(e event.Event, pod *corev1.Pod) event.Event {
	if pod == nil {
		return e
	}
	e.Node = pod.Spec.NodeName
	e.Labels = event.KnownLabels(pod.Labels)
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		e.Workload = event.Workload{Kind: ref.Kind, Name: ref.Name}
	}
	return e
}
