package kubernetes

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/khook-dev/khook/domain/event"
)

// tracker remembers, per pod, what the source reported and not yet resolved, and turns the
// pure decisions of pods.go into what to send: a firing, a re-assertion, a resolution. It is
// not safe for concurrent use: the source calls it from one goroutine, so that what it sends
// about one pod keeps its order.
type tracker struct {
	policy PodPolicy
	pods   map[podKey]*podRecord
	// deleted remembers pods deleted within the window, by UID: Events about them that arrive
	// late (the kubelet's last probe failures, say) are not news.
	deleted map[types.UID]time.Time
	// workloadOf, when set, says what runs a Pod of a namespace controlled by ref (the source
	// sets workloads.of); without it an event names the Pod's direct controller.
	workloadOf func(namespace string, ref *metav1.OwnerReference) event.Workload
}

// podTypes are the event types about a Pod, in a fixed order.
var podTypes = []event.Type{event.PodRestart, event.PodPending, event.OOMKill, event.ProbeFailed}

// podKey is how dedup names a pod: namespace and name.
type podKey struct{ namespace, name string }

type podRecord struct {
	uid     types.UID
	pod     *corev1.Pod // the latest seen; nil while only an Event has named the pod
	reports map[event.Type]*report
	// note is the scheduler's latest FailedScheduling message, which pod-pending carries.
	note   string
	noteAt time.Time
}

// report is trouble the source sent and has not resolved.
type report struct {
	last   event.Event // the last trouble sent, sent again to re-assert it
	sentAt time.Time
	// seenAt is when the trouble itself was last seen: a restart is resolved no sooner than
	// RestartRecovery after it, whatever the Pod says (its status may lag an Event).
	seenAt time.Time
	// level: the Pod's state says when it ends (pending, restart); otherwise (oom-kill,
	// probe-failed) the pipeline resolves it after a quiet window, or the deletion does.
	level bool
}

func newTracker(p PodPolicy) *tracker {
	return &tracker{policy: p.withDefaults(), pods: map[podKey]*podRecord{}, deleted: map[types.UID]time.Time{}}
}

func keyOf(pod *corev1.Pod) podKey { return podKey{namespace: pod.Namespace, name: pod.Name} }

// podSeen handles a Pod listed or created (old == nil) or changed.
func (t *tracker) podSeen(old, pod *corev1.Pod, now time.Time) []event.Event {
	var out []event.Event
	k := keyOf(pod)
	rec := t.pods[k]
	if rec != nil && rec.uid != "" && rec.uid != pod.UID {
		// The pod we knew was replaced by another of the same name without us seeing it go.
		out = t.podGone(rec.pod, now)
		rec = nil
	}
	if old != nil && old.UID != pod.UID {
		old = nil // a new pod: everything in it is news or history, not a change
	}
	var edges []event.Event
	if old == nil {
		edges = FromPodListing(pod, now, t.policy.Window)
	} else {
		edges = FromPodChange(old, pod, now)
	}
	if rec == nil {
		if len(edges) == 0 && !t.mayNeedWatching(pod, now) {
			return out
		}
		rec = &podRecord{reports: map[event.Type]*report{}}
		t.pods[k] = rec
	}
	rec.uid, rec.pod = pod.UID, pod
	levels := t.evaluate(rec, now)
	out = append(out, levels...)
	for _, e := range edges {
		if e.Type == event.PodRestart && firing(levels, event.PodRestart) {
			continue // "crash-looping" says it already, and says more
		}
		e = t.climb(e, pod)
		t.sent(rec, e, now, e.Type == event.PodRestart)
		out = append(out, e)
	}
	t.forgetIfIdle(k, rec, now)
	return out
}

// firing says whether out has trouble of type typ.
func firing(out []event.Event, typ event.Type) bool {
	for _, e := range out {
		if e.Type == typ && !e.Resolves() {
			return true
		}
	}
	return false
}

// mayNeedWatching says whether a pod without a record needs one: it shows lasting trouble now
// or soon (unschedulable, crash-looping).
func (t *tracker) mayNeedWatching(pod *corev1.Pod, now time.Time) bool {
	if l, _ := PendingLevel(pod, now, t.policy.PendingGrace); l != Clear {
		return true
	}
	l, _ := RestartLevel(pod, now, t.policy.RestartRecovery)
	return l == Troubled
}

// evaluate applies the lasting-trouble decisions to rec's pod.
func (t *tracker) evaluate(rec *podRecord, now time.Time) []event.Event {
	if rec.pod == nil {
		return nil
	}
	var out []event.Event
	pl, pe := PendingLevel(rec.pod, now, t.policy.PendingGrace)
	if pl == Troubled && rec.note != "" && !rec.noteAt.Before(pe.Timestamp) {
		pe.Message = rec.note // the scheduler's Event says more, and is newer than the condition
	}
	out = t.apply(rec, event.PodPending, pl, pe, now, out)
	rl, re := RestartLevel(rec.pod, now, t.policy.RestartRecovery)
	if r := rec.reports[event.PodRestart]; rl == Clear && r != nil && now.Sub(r.seenAt) < t.policy.RestartRecovery {
		rl = Waiting // trouble seen lately (an Event the status does not show yet): not over
	}
	return t.apply(rec, event.PodRestart, rl, re, now, out)
}

// apply turns a level into what to send: trouble that holds fires once and is re-asserted
// every Reassert; trouble that cleared is resolved.
func (t *tracker) apply(rec *podRecord, typ event.Type, l Level, e event.Event, now time.Time, out []event.Event) []event.Event {
	r := rec.reports[typ]
	switch {
	case l == Troubled:
		if r == nil || now.Sub(r.sentAt) >= t.policy.Reassert() {
			e = t.climb(e, rec.pod)
			t.sent(rec, e, now, true)
			return append(out, e)
		}
		e.Workload = r.last.Workload // what it was sent with: a re-assertion names the same workload
		r.last, r.seenAt = e, now
	case r == nil:
	case l == Waiting:
		if now.Sub(r.sentAt) >= t.policy.Reassert() {
			r.sentAt = now
			r.last.Labels = event.KnownLabels(rec.pod.Labels) // as the Pod has them now
			return append(out, r.last)
		}
	case l == Clear && r.level:
		delete(rec.reports, typ)
		return append(out, t.climb(e, rec.pod))
	}
	return out
}

// climb replaces the workload of e, an event about pod, by what runs the pod's controller
// (workloadOf), when the tracker has a workloadOf. It is called only for what is sent, so that a
// lookup is made only for trouble.
func (t *tracker) climb(e event.Event, pod *corev1.Pod) event.Event {
	if t.workloadOf == nil || pod == nil {
		return e
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		e.Workload = t.workloadOf(pod.Namespace, ref)
	}
	return e
}

// sent notes that trouble e was sent.
func (t *tracker) sent(rec *podRecord, e event.Event, now time.Time, level bool) {
	r := rec.reports[e.Type]
	if r == nil {
		r = &report{}
		rec.reports[e.Type] = r
	}
	r.last, r.sentAt, r.seenAt = e, now, now
	r.level = r.level || level
}

// podGone resolves, as deleted, everything reported about pod (nil: nothing known).
func (t *tracker) podGone(pod *corev1.Pod, now time.Time) []event.Event {
	if pod == nil {
		return nil
	}
	if pod.UID != "" {
		t.deleted[pod.UID] = now
	}
	k := keyOf(pod)
	rec := t.pods[k]
	if rec == nil || (rec.uid != "" && pod.UID != "" && rec.uid != pod.UID) {
		return nil
	}
	delete(t.pods, k)
	var out []event.Event
	for _, typ := range podTypes { // a fixed order
		r := rec.reports[typ]
		// Trouble resolved by silence is resolved already once a window has passed.
		if r != nil && (r.level || now.Sub(r.sentAt) < t.policy.Window) {
			out = append(out, t.climb(deletion(pod, typ, now), pod))
		}
	}
	return out
}

// kubeEvent handles a Kubernetes Event that is news, with the Pod it is about as the cache
// has it (nil when unknown). FailedScheduling only supplies pod-pending's message.
// e is what FromEvent made of ev.
func (t *tracker) kubeEvent(ev *eventsv1.Event, e event.Event, pod *corev1.Pod, now time.Time) []event.Event {
	if ignoredForPod(ev, e, pod) {
		return nil
	}
	if e.ResourceKind != "Pod" || e.Namespace == "" {
		return []event.Event{e} // a node's OOM kill: nothing of a pod to follow
	}
	if uid := ev.Regarding.UID; uid != "" {
		if _, gone := t.deleted[uid]; gone {
			return nil // about a pod already deleted
		}
	}
	k := podKey{namespace: e.Namespace, name: e.ResourceName}
	rec := t.pods[k]
	known := pod
	if known == nil && rec != nil && rec.pod != nil && (ev.Regarding.UID == "" || ev.Regarding.UID == rec.uid) {
		known = rec.pod // the cache has not got the pod (yet, or any more); the tracker has
	}
	if e.Type == event.PodPending {
		if rec == nil {
			rec = &podRecord{reports: map[event.Type]*report{}}
			t.pods[k] = rec
		}
		rec.note, rec.noteAt = e.Message, e.Timestamp
		if r := rec.reports[event.PodPending]; r != nil {
			r.last.Message = e.Message // the next re-assertion says it
		}
		return nil
	}
	e = t.climb(withSubject(e, known), known)
	if pod != nil {
		if rec == nil {
			rec = &podRecord{reports: map[event.Type]*report{}}
			t.pods[k] = rec
		}
		rec.uid, rec.pod = pod.UID, pod
		// A crash-loop Event is lasting trouble the Pod's status resolves; the others are not.
		t.sent(rec, e, now, e.Type == event.PodRestart)
	}
	return []event.Event{e}
}

// scan re-evaluates the pods followed: pending ones whose grace period ended fire, restarted
// ones that recovered resolve, trouble that holds is re-asserted. It also forgets what no
// longer matters. watched says whether a namespace still has Hooks.
func (t *tracker) scan(now time.Time, watched func(ns string) bool) []event.Event {
	var out []event.Event
	for k, rec := range t.pods {
		if !watched(k.namespace) {
			delete(t.pods, k) // no Hook left to tell; a later change of the pod starts afresh
			continue
		}
		out = append(out, t.evaluate(rec, now)...)
		t.forgetIfIdle(k, rec, now)
	}
	for uid, at := range t.deleted {
		if now.Sub(at) >= t.policy.Window {
			delete(t.deleted, uid)
		}
	}
	return out
}

// forgetIfIdle drops reports the pipeline has resolved by silence, and the record once nothing
// in it matters.
func (t *tracker) forgetIfIdle(k podKey, rec *podRecord, now time.Time) {
	for typ, r := range rec.reports {
		if !r.level && now.Sub(r.sentAt) >= t.policy.Window {
			delete(rec.reports, typ)
		}
	}
	if len(rec.reports) > 0 {
		return
	}
	if rec.pod == nil {
		if now.Sub(rec.noteAt) >= t.policy.Window {
			delete(t.pods, k)
		}
		return
	}
	if !t.mayNeedWatching(rec.pod, now) {
		delete(t.pods, k)
	}
}
