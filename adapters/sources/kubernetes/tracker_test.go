package kubernetes_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/adapters/sources/kubernetes"
	"github.com/khook-dev/khook/domain/event"
)

var policy = kubernetes.PodPolicy{PendingGrace: grace, RestartRecovery: recovery, Window: window}

// A step happens at a time since t0 and expects what the tracker sends, each summarised as
// "<type> <pod> <trouble|recovered|deleted>: <message>" and matched by prefix.
type step struct {
	at   time.Duration
	do   func(tr *kubernetes.Tracker, now time.Time) []event.Event
	want []string
}

func seen(pod *corev1.Pod) func(*kubernetes.Tracker, time.Time) []event.Event {
	return func(tr *kubernetes.Tracker, now time.Time) []event.Event { return tr.PodSeen(nil, pod, now) }
}

func changed(old, pod *corev1.Pod) func(*kubernetes.Tracker, time.Time) []event.Event {
	return func(tr *kubernetes.Tracker, now time.Time) []event.Event { return tr.PodSeen(old, pod, now) }
}

func gone(pod *corev1.Pod) func(*kubernetes.Tracker, time.Time) []event.Event {
	return func(tr *kubernetes.Tracker, now time.Time) []event.Event { return tr.PodGone(pod, now) }
}

func scan() func(*kubernetes.Tracker, time.Time) []event.Event {
	return func(tr *kubernetes.Tracker, now time.Time) []event.Event { return tr.Scan(now) }
}

// kubeEventAbout is an Event (reason, note) about pod, at t, handled with the pod the cache
// has (cached, nil when unknown).
func kubeEventAbout(pod *corev1.Pod, reason, note string, t time.Time, cached *corev1.Pod) func(*kubernetes.Tracker, time.Time) []event.Event {
	return func(tr *kubernetes.Tracker, now time.Time) []event.Event {
		ev := &eventsv1.Event{
			ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name + ".1"},
			Reason:     reason, Note: note, EventTime: metav1.NewMicroTime(t),
			Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		return tr.KubeEvent(ev, cached, now)
	}
}

func summary(e event.Event) string {
	kind := "trouble"
	if e.Resolves() {
		kind = string(e.Resolution)
	}
	return fmt.Sprintf("%s %s %s: %s", e.Type, e.ResourceName, kind, e.Message)
}

func TestTrackerSendsFiringsReassertionsAndResolutions(t *testing.T) {
	pending := newPod(unschedulable(t0))
	crashLoop := func(n int32) *corev1.Pod {
		return newPod(scheduledOn("node-1", t0), containers(status("app", restarts(n), waiting("CrashLoopBackOff"), lastTerminated("Error", 1, t0))))
	}
	readySince := func(at time.Time) *corev1.Pod {
		return newPod(scheduledOn("node-1", t0), containers(status("app", restarts(4), runningSince(at, true), lastTerminated("Error", 1, t0))))
	}
	healthy := newPod(scheduledOn("node-1", t0.Add(-time.Hour)), containers(status("app", runningSince(t0.Add(-time.Hour), true))))
	oomKilled := newPod(scheduledOn("node-1", t0), containers(status("app", restarts(1), runningSince(t0, true), lastTerminated("OOMKilled", 137, t0))))
	tests := []struct {
		name  string
		steps []step
	}{
		{"a pending pod fires after the grace period and resolves as deleted when it is deleted", []step{
			{0, seen(pending), nil},
			{30 * time.Second, scan(), nil},
			{time.Minute, scan(), []string{"pod-pending web-1 trouble: 0/3 nodes are available"}},
			{time.Minute + 15*time.Second, scan(), nil},
			{2 * time.Minute, gone(pending), []string{"pod-pending web-1 deleted: pod deleted"}},
			{3 * time.Minute, scan(), nil},
		}},
		{"a pending pod resolves as recovered when it is scheduled", []step{
			{0, seen(pending), nil},
			{2 * time.Minute, scan(), []string{"pod-pending web-1 trouble"}},
			{3 * time.Minute, changed(pending, newPod(scheduledOn("node-1", t0.Add(3*time.Minute)))), []string{"pod-pending web-1 recovered: pod scheduled on node node-1"}},
			{4 * time.Minute, scan(), nil},
		}},
		{"a pod gated before its grace period ends never fires", []step{
			{0, seen(pending), nil},
			{30 * time.Second, changed(pending, newPod(gatedBy("quota"), condition(corev1.PodScheduled, corev1.ConditionFalse, "SchedulingGated", t0))), nil},
			{time.Hour, scan(), nil},
		}},
		{"a pod listed long after it became unschedulable fires at once", []step{
			{0, seen(newPod(unschedulable(t0.Add(-2 * time.Hour)))), []string{"pod-pending web-1 trouble"}},
		}},
		{"the scheduler's FailedScheduling message is what pod-pending says", []step{
			{0, seen(pending), nil},
			{10 * time.Second, kubeEventAbout(pending, "FailedScheduling", "0/5 nodes are available: 5 node(s) had untolerated taint.", t0.Add(10*time.Second), pending), nil},
			{time.Minute, scan(), []string{"pod-pending web-1 trouble: 0/5 nodes are available: 5 node(s) had untolerated taint."}},
		}},
		{"a crash-looping pod fires, is re-asserted while not recovered, and resolves after running ready for the recovery time", []step{
			{0, seen(crashLoop(3)), []string{"pod-restart web-1 trouble: container app is crash-looping (restart count 3)"}},
			{10 * time.Second, changed(crashLoop(3), crashLoop(4)), []string{"pod-restart web-1 trouble: container app restarted (restart count 4)"}},
			{time.Minute, changed(crashLoop(4), readySince(t0.Add(time.Minute))), nil},
			{5*time.Minute + 59*time.Second, scan(), []string{"pod-restart web-1 trouble: container app restarted (restart count 4)"}},
			{6 * time.Minute, scan(), []string{"pod-restart web-1 recovered: every restarted container has run ready for 5m0s"}},
			{7 * time.Minute, scan(), nil},
		}},
		{"a crash-loop Event about a pod whose status looks healthy resolves no sooner than the recovery time after it", []step{
			{0, seen(healthy), nil},
			{0, kubeEventAbout(healthy, "BackOff", "Back-off restarting failed container app", t0, healthy), []string{"pod-restart web-1 trouble: Back-off restarting failed container app"}},
			{4*time.Minute + 59*time.Second, scan(), []string{"pod-restart web-1 trouble"}}, // re-asserted
			{5 * time.Minute, scan(), []string{"pod-restart web-1 recovered"}},
		}},
		{"a probe failure on a pod being deleted, or already deleted, is not trouble", []step{
			{0, seen(healthy), nil},
			{0, kubeEventAbout(healthy, "Unhealthy", "Readiness probe failed: 503", t0, healthy), []string{"probe-failed web-1 trouble"}},
			{time.Minute, kubeEventAbout(healthy, "Unhealthy", "Readiness probe failed: 503", t0, newPod(scheduledOn("node-1", t0), deleting(t0))), nil},
			{2 * time.Minute, gone(healthy), []string{"probe-failed web-1 deleted"}},
			{2 * time.Minute, kubeEventAbout(healthy, "Unhealthy", "Liveness probe failed: EOF", t0.Add(2*time.Minute), nil), nil},
		}},
		{"an OOM kill found at listing fires with its restart, and the deletion within the window resolves both", []step{
			{0, seen(oomKilled), []string{"pod-restart web-1 trouble", "oom-kill web-1 trouble"}},
			{2 * time.Minute, gone(oomKilled), []string{"pod-restart web-1 deleted", "oom-kill web-1 deleted"}},
		}},
		{"an OOM kill reported more than a window ago is left to the quiet rule at deletion", []step{
			{0, seen(oomKilled), []string{"pod-restart web-1 trouble", "oom-kill web-1 trouble"}},
			{5 * time.Minute, scan(), []string{"pod-restart web-1 recovered"}},
			{11 * time.Minute, gone(oomKilled), nil},
		}},
		{"a pod replaced by another of the same name resolves the first one's trouble as deleted", []step{
			{0, seen(crashLoop(3)), []string{"pod-restart web-1 trouble"}},
			{time.Minute, seen(newPod(withUID("uid-web-1-again"))), []string{"pod-restart web-1 deleted"}},
		}},
		{"a healthy pod with old restarts is history", []step{
			{0, seen(newPod(containers(status("app", restarts(7), runningSince(t0.Add(-time.Hour), true), lastTerminated("Error", 1, t0.Add(-2*time.Hour)))))), nil},
			{time.Hour, scan(), nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(t0)
			tr := kubernetes.NewTracker(policy)
			for i, s := range tt.steps {
				clk.SetTime(t0.Add(s.at))
				var got []string
				for _, e := range s.do(tr, clk.Now()) {
					got = append(got, summary(e))
				}
				if !matchPrefixes(got, s.want) {
					t.Fatalf("step %d (at %s) sent %q\nwant %q", i, s.at, got, s.want)
				}
			}
		})
	}
}

func matchPrefixes(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) {
			return false
		}
	}
	return true
}

// The definition of done: a pod pending for an hour is one firing, resolved when it
// schedules. The dedup resolves a key not seen for a window, so "one firing" means the pod is
// seen again, always within less than a window, and never resolved until it is scheduled.
func TestAPodPendingForAnHourIsOneFiringResolvedWhenItSchedules(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	tr := kubernetes.NewTracker(policy)
	pod := newPod(unschedulable(t0))
	if out := tr.PodSeen(nil, pod, clk.Now()); len(out) != 0 {
		t.Fatalf("a pod unschedulable for no time sent %v", out)
	}
	var sightings []time.Time
	for clk.Now().Before(t0.Add(time.Hour)) {
		clk.Step(policy.ScanInterval())
		for _, e := range tr.Scan(clk.Now()) {
			if e.Resolves() || e.Type != event.PodPending {
				t.Fatalf("at %s the tracker sent %s", clk.Since(t0), summary(e))
			}
			sightings = append(sightings, clk.Now())
		}
	}
	if len(sightings) == 0 || sightings[0].Sub(t0) != grace {
		t.Fatalf("sightings %v: want the first once the grace period (%s) is over", sightings, grace)
	}
	for i := 1; i < len(sightings); i++ {
		if gap := sightings[i].Sub(sightings[i-1]); gap >= window {
			t.Fatalf("pod-pending was not seen for %s (between %s and %s): the dedup window would resolve it", gap, sightings[i-1].Sub(t0), sightings[i].Sub(t0))
		}
	}
	out := tr.PodSeen(pod, newPod(scheduledOn("node-1", clk.Now())), clk.Now())
	if len(out) != 1 || out[0].Resolution != event.Recovered || out[0].Type != event.PodPending {
		t.Fatalf("scheduling the pod sent %v, want one pod-pending resolution (recovered)", out)
	}
	if n := tr.Following(); n != 0 {
		t.Fatalf("the tracker still follows %d pods after the pod was scheduled", n)
	}
}

func TestADeletionSeenLateStillNamesThePod(t *testing.T) {
	pod := newPod(scheduledOn("node-1", t0))
	tests := []struct {
		name    string
		obj     any
		wantPod bool
	}{
		{"a deleted pod is that pod", pod, true},
		{"a tombstone carries the pod's last known state", toolscache.DeletedFinalStateUnknown{Key: "apps/web-1", Obj: pod}, true},
		{"a tombstone of something else is no pod", toolscache.DeletedFinalStateUnknown{Key: "apps/web-1", Obj: &corev1.Node{}}, false},
		{"a nil pod is no pod", (*corev1.Pod)(nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := kubernetes.DeletedPod(tt.obj)
			if ok != tt.wantPod || (ok && got != pod) {
				t.Fatalf("DeletedPod = %v, %v; want the pod: %v", got, ok, tt.wantPod)
			}
		})
	}
	// And what the tracker makes of it: the trouble reported is resolved as deleted.
	tr := kubernetes.NewTracker(policy)
	crashing := newPod(scheduledOn("node-1", t0), containers(status("app", restarts(3), waiting("CrashLoopBackOff"))))
	tr.PodSeen(nil, crashing, t0)
	gonePod, _ := kubernetes.DeletedPod(toolscache.DeletedFinalStateUnknown{Key: "apps/web-1", Obj: crashing})
	if out := tr.PodGone(gonePod, t0.Add(time.Minute)); len(out) != 1 || out[0].Resolution != event.Deleted {
		t.Fatalf("the tombstone's pod resolved %v, want pod-restart deleted", out)
	}
}
