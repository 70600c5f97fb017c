package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/khook-dev/khook/adapters/sources/kubernetes"
	"github.com/khook-dev/khook/domain/event"
)

// fakeOwners is an OwnerLookup over objects a test declares, counting the lookups.
type fakeOwners struct {
	mu sync.Mutex
	// objects by "kind/name": the object's UID and controller (nil: none).
	objects map[string]fakeObject
	// fail, when set, is returned by every lookup.
	fail error
	// hang makes every lookup wait for its context to end.
	hang    bool
	lookups []string
}

type fakeObject struct {
	uid        types.UID
	controller *metav1.OwnerReference
}

func (f *fakeOwners) ControllerOf(ctx context.Context, namespace string, ref metav1.OwnerReference) (types.UID, *metav1.OwnerReference, error) {
	f.mu.Lock()
	f.lookups = append(f.lookups, ref.Kind+"/"+ref.Name)
	fail, hang := f.fail, f.hang
	obj, ok := f.objects[ref.Kind+"/"+ref.Name]
	f.mu.Unlock()
	switch {
	case hang:
		<-ctx.Done()
		return "", nil, fmt.Errorf("reading the owner: %w", ctx.Err())
	case fail != nil:
		return "", nil, fail
	case !ok:
		return "", nil, fmt.Errorf("reading the owner: %w", apierrors.NewNotFound(schema.GroupResource{Resource: "replicasets"}, ref.Name))
	}
	return obj.uid, obj.controller, nil
}

func (f *fakeOwners) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.lookups)
}

func controllerRef(apiVersion, kind, name string) *metav1.OwnerReference {
	return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID("uid-" + name), Controller: ptr.To(true)}
}

// cluster is what the fake lookup knows: a Deployment's ReplicaSet, a CronJob's Job, an
// orphaned ReplicaSet, a bare Job, a ReplicaSet of an Argo Rollout, and a ReplicaSet that was
// replaced by another of the same name.
func cluster() *fakeOwners {
	return &fakeOwners{objects: map[string]fakeObject{
		"ReplicaSet/web-7d9f8b6c5d":    {"uid-web-7d9f8b6c5d", controllerRef("apps/v1", "Deployment", "web")},
		"Job/backup-29123456":          {"uid-backup-29123456", controllerRef("batch/v1", "CronJob", "backup")},
		"ReplicaSet/orphan-5f6d":       {"uid-orphan-5f6d", nil},
		"Job/migrate":                  {"uid-migrate", nil},
		"ReplicaSet/canary-6b8f9c":     {"uid-canary-6b8f9c", controllerRef("argoproj.io/v1alpha1", "Rollout", "canary")},
		"ReplicaSet/replaced-7c5b8d9f": {"uid-another", controllerRef("apps/v1", "Deployment", "someone-else")},
	}}
}

func TestAPodsWorkloadIsItsControllerFollowedUpFromAReplicaSetOrAJob(t *testing.T) {
	tests := []struct {
		name        string
		ref         *metav1.OwnerReference
		want        event.Workload
		wantLookups int
	}{
		{"a ReplicaSet controlled by a Deployment is the Deployment",
			controllerRef("apps/v1", "ReplicaSet", "web-7d9f8b6c5d"), event.Workload{Kind: "Deployment", Name: "web"}, 1},
		{"a Job controlled by a CronJob is the CronJob",
			controllerRef("batch/v1", "Job", "backup-29123456"), event.Workload{Kind: "CronJob", Name: "backup"}, 1},
		{"a ReplicaSet without a controller is the ReplicaSet",
			controllerRef("apps/v1", "ReplicaSet", "orphan-5f6d"), event.Workload{Kind: "ReplicaSet", Name: "orphan-5f6d"}, 1},
		{"a Job without a controller is the Job",
			controllerRef("batch/v1", "Job", "migrate"), event.Workload{Kind: "Job", Name: "migrate"}, 1},
		{"a ReplicaSet controlled by another kind is that controller",
			controllerRef("apps/v1", "ReplicaSet", "canary-6b8f9c"), event.Workload{Kind: "Rollout", Name: "canary"}, 1},
		{"a StatefulSet is the workload, looked up no further",
			controllerRef("apps/v1", "StatefulSet", "db"), event.Workload{Kind: "StatefulSet", Name: "db"}, 0},
		{"a DaemonSet is the workload, looked up no further",
			controllerRef("apps/v1", "DaemonSet", "agent"), event.Workload{Kind: "DaemonSet", Name: "agent"}, 0},
		{"a custom controller's kind is the workload as it is",
			controllerRef("example.com/v1", "Pipeline", "nightly"), event.Workload{Kind: "Pipeline", Name: "nightly"}, 0},
		{"a Job of another API group is not a batch Job and is not looked up",
			controllerRef("batch.volcano.sh/v1alpha1", "Job", "train"), event.Workload{Kind: "Job", Name: "train"}, 0},
		{"no controller is no workload",
			nil, event.Workload{}, 0},
		{"a ReplicaSet that is gone is the ReplicaSet",
			controllerRef("apps/v1", "ReplicaSet", "gone-8d7c6b"), event.Workload{Kind: "ReplicaSet", Name: "gone-8d7c6b"}, 1},
		{"a ReplicaSet replaced by another of the same name is the Pod's ReplicaSet, not the new one's owner",
			controllerRef("apps/v1", "ReplicaSet", "replaced-7c5b8d9f"), event.Workload{Kind: "ReplicaSet", Name: "replaced-7c5b8d9f"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := cluster()
			w := kubernetes.NewWorkloads(lookup, clocktesting.NewFakeClock(t0), time.Second)
			if got := w.Of(context.Background(), "apps", tt.ref); got != tt.want {
				t.Fatalf("workload = %q, want %q", got, tt.want)
			}
			if got := w.Of(context.Background(), "apps", tt.ref); got != tt.want {
				t.Fatalf("asked again, workload = %q, want %q", got, tt.want)
			}
			if n := lookup.count(); n != tt.wantLookups {
				t.Fatalf("%d lookups (%v), want %d: an owner is looked up once", n, lookup.lookups, tt.wantLookups)
			}
		})
	}
}

func TestWhatIsFoundOfAnOwnerIsKeptBoundedAndExpires(t *testing.T) {
	web := controllerRef("apps/v1", "ReplicaSet", "web-7d9f8b6c5d")
	gone := controllerRef("apps/v1", "ReplicaSet", "gone-8d7c6b")
	tests := []struct {
		name string
		// do asks, and says how many lookups the fake should have seen by the end.
		do          func(t *testing.T, w *kubernetes.Workloads, clk *clocktesting.FakeClock)
		wantLookups int
	}{
		{"an owner found is asked again only after it expired", func(t *testing.T, w *kubernetes.Workloads, clk *clocktesting.FakeClock) {
			w.Of(context.Background(), "apps", web)
			clk.Step(kubernetes.OwnerTTL - time.Second)
			w.Of(context.Background(), "apps", web)
			clk.Step(2 * time.Second)
			w.Of(context.Background(), "apps", web)
		}, 2},
		{"a ReplicaSet that is gone is asked again after a minute, not an hour", func(t *testing.T, w *kubernetes.Workloads, clk *clocktesting.FakeClock) {
			w.Of(context.Background(), "apps", gone)
			clk.Step(kubernetes.OwnerGoneTTL - time.Second)
			w.Of(context.Background(), "apps", gone)
			clk.Step(2 * time.Second)
			w.Of(context.Background(), "apps", gone)
		}, 2},
		{"at most OwnerCacheSize owners are kept, the least recently used going first", func(t *testing.T, w *kubernetes.Workloads, clk *clocktesting.FakeClock) {
			w.Of(context.Background(), "apps", web)
			for i := range kubernetes.OwnerCacheSize {
				w.Of(context.Background(), "apps", controllerRef("apps/v1", "ReplicaSet", fmt.Sprintf("other-%d", i)))
			}
			if n := w.Kept(); n != kubernetes.OwnerCacheSize {
				t.Fatalf("%d owners kept, want %d", n, kubernetes.OwnerCacheSize)
			}
			w.Of(context.Background(), "apps", web) // pushed out by the others: asked again
		}, kubernetes.OwnerCacheSize + 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := cluster()
			clk := clocktesting.NewFakeClock(t0)
			tt.do(t, kubernetes.NewWorkloads(lookup, clk, time.Second), clk)
			if n := lookup.count(); n != tt.wantLookups {
				t.Fatalf("%d lookups, want %d", n, tt.wantLookups)
			}
		})
	}
}

// The source's loop waits for a lookup: one that fails or hangs gives the ReplicaSet itself at
// once, and none is tried again for a while, so that an API server in trouble costs the loop at
// most one timeout per pause.
func TestALookupThatFailsOrHangsGivesTheReplicaSetAndPausesLookups(t *testing.T) {
	tests := []struct {
		name string
		fail func(f *fakeOwners)
	}{
		{"the API server refuses", func(f *fakeOwners) {
			f.fail = apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "replicasets"}, "web-7d9f8b6c5d", errors.New("no RBAC"))
		}},
		{"the API server answers 500", func(f *fakeOwners) { f.fail = apierrors.NewInternalError(errors.New("etcd is down")) }},
		{"the API server does not answer in time", func(f *fakeOwners) { f.hang = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := cluster()
			tt.fail(lookup)
			clk := clocktesting.NewFakeClock(t0)
			w := kubernetes.NewWorkloads(lookup, clk, 50*time.Millisecond)
			web := controllerRef("apps/v1", "ReplicaSet", "web-7d9f8b6c5d")
			if got, want := w.Of(context.Background(), "apps", web), (event.Workload{Kind: "ReplicaSet", Name: "web-7d9f8b6c5d"}); got != want {
				t.Fatalf("workload = %q, want the ReplicaSet %q", got, want)
			}
			clk.Step(kubernetes.OwnerLookupPause - time.Second)
			w.Of(context.Background(), "apps", controllerRef("batch/v1", "Job", "backup-29123456"))
			w.Of(context.Background(), "apps", web)
			if n := lookup.count(); n != 1 {
				t.Fatalf("%d lookups during the pause, want only the one that failed", n)
			}
			lookup.fail, lookup.hang = nil, false
			clk.Step(time.Second)
			if got, want := w.Of(context.Background(), "apps", web), (event.Workload{Kind: "Deployment", Name: "web"}); got != want {
				t.Fatalf("after the pause the workload = %q, want %q", got, want)
			}
		})
	}
}

// The tracker names what runs a pod on everything it sends about it, and looks an owner up only
// for what it sends.
func TestTheTrackerNamesTheDeploymentOnEveryFiringReassertionAndResolution(t *testing.T) {
	rs := ownedBy("apps/v1", "ReplicaSet", "web-7d9f8b6c5d", true)
	crash := lastTerminated("Error", 1, t0)
	crashing := newPod(rs, scheduledOn("node-1", t0), containers(status("app", restarts(3), waiting("CrashLoopBackOff"), crash)))
	healthy := newPod(named("apps", "web-2"), rs, scheduledOn("node-1", t0), containers(status("app", runningSince(t0, true))))
	lookup := cluster()
	tr := kubernetes.NewTracker(policy).WithWorkloads(kubernetes.NewWorkloads(lookup, clocktesting.NewFakeClock(t0), time.Second))

	if out := tr.PodSeen(nil, healthy, t0); len(out) != 0 || lookup.count() != 0 {
		t.Fatalf("a healthy pod sent %v and cost %d lookups, want nothing", out, lookup.count())
	}
	var all []event.Event
	all = append(all, tr.PodSeen(nil, crashing, t0)...)
	all = append(all, tr.Scan(t0.Add(window/3))...)
	all = append(all, kubeEventAbout(crashing, "BackOff", "Back-off restarting failed container app", t0.Add(window/3), crashing)(tr, t0.Add(window/3))...)
	all = append(all, tr.PodGone(crashing, t0.Add(window/2))...)
	want := []string{"pod-restart web-1 trouble", "pod-restart web-1 trouble", "pod-restart web-1 trouble: Back-off", "pod-restart web-1 deleted"}
	var got []string
	for _, e := range all {
		got = append(got, summary(e))
		if e.Workload != (event.Workload{Kind: "Deployment", Name: "web"}) || e.Node != "node-1" {
			t.Errorf("%s names %q on %q, want Deployment/web on node-1", summary(e), e.Workload, e.Node)
		}
	}
	if !matchPrefixes(got, want) {
		t.Fatalf("sent %q\nwant %q", got, want)
	}
	if n := lookup.count(); n != 1 {
		t.Fatalf("%d lookups, want 1: the ReplicaSet's owner is looked up once", n)
	}
}

// A pod of a Job of a CronJob names the CronJob; Jobs' pods end, and their end resolves.
func TestTheTrackerNamesTheCronJobOfAJobsPod(t *testing.T) {
	job := newPod(named("apps", "backup-29123456-x7k2p"), ownedBy("batch/v1", "Job", "backup-29123456", true), scheduledOn("node-2", t0),
		containers(status("app", restarts(2), waiting("CrashLoopBackOff"), lastTerminated("Error", 1, t0))))
	tr := kubernetes.NewTracker(policy).WithWorkloads(kubernetes.NewWorkloads(cluster(), clocktesting.NewFakeClock(t0), time.Second))
	out := tr.PodSeen(nil, job, t0)
	finished := job.DeepCopy()
	finished.Status.Phase = corev1.PodFailed
	out = append(out, tr.PodSeen(job, finished, t0.Add(recovery))...)
	if len(out) != 2 || !out[1].Resolves() {
		t.Fatalf("sent %v, want the crash loop and its end", out)
	}
	for _, e := range out {
		if e.Workload != (event.Workload{Kind: "CronJob", Name: "backup"}) || e.Node != "node-2" {
			t.Errorf("%s names %q on %q, want CronJob/backup on node-2", summary(e), e.Workload, e.Node)
		}
	}
}
