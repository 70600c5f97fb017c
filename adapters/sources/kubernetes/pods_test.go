package kubernetes_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/adapters/sources/kubernetes"
	"github.com/khook-dev/khook/domain/event"
)

const (
	grace    = time.Minute
	recovery = 5 * time.Minute
	window   = 10 * time.Minute
)

func TestPendingLevel(t *testing.T) {
	tests := []struct {
		name        string
		pod         *corev1.Pod
		after       time.Duration // how long after t0 the pod is looked at
		want        kubernetes.Level
		wantMessage string
	}{
		{"a pod unschedulable for less than the grace period is not pending yet",
			newPod(unschedulable(t0)), grace - time.Second, kubernetes.Waiting, ""},
		{"a pod unschedulable for the grace period is pending",
			newPod(unschedulable(t0)), grace, kubernetes.Troubled, "0/3 nodes are available: 3 Insufficient cpu."},
		{"a pod unschedulable for an hour is pending",
			newPod(unschedulable(t0)), time.Hour, kubernetes.Troubled, "0/3 nodes are available: 3 Insufficient cpu."},
		{"a pod that cannot be scheduled for another reason is pending too",
			newPod(condition(corev1.PodScheduled, corev1.ConditionFalse, "SchedulerError", t0)), grace, kubernetes.Troubled, "SchedulerError (condition message)"},
		{"a scheduled pod resolves as recovered",
			newPod(scheduledOn("node-1", t0)), time.Hour, kubernetes.Clear, "pod scheduled on node node-1"},
		{"a pod whose condition says scheduled resolves as recovered",
			newPod(condition(corev1.PodScheduled, corev1.ConditionTrue, "", t0)), time.Hour, kubernetes.Clear, "pod scheduled"},
		{"a pod held by a scheduling gate is gated, not pending",
			newPod(condition(corev1.PodScheduled, corev1.ConditionFalse, "SchedulingGated", t0)), time.Hour, kubernetes.Clear, "pod waits for its scheduling gates"},
		{"a pod with scheduling gates in its spec is gated, whatever the condition's reason",
			newPod(gatedBy("example.com/quota"), unschedulable(t0)), time.Hour, kubernetes.Clear, "pod waits for its scheduling gates"},
		{"a pod the scheduler has not looked at yet is not pending",
			newPod(), time.Hour, kubernetes.Clear, ""},
		{"an unknown scheduling state is left as it is",
			newPod(condition(corev1.PodScheduled, corev1.ConditionUnknown, "", t0)), time.Hour, kubernetes.Waiting, ""},
		{"a pending pod being deleted is left to its deletion",
			newPod(unschedulable(t0), deleting(t0)), time.Hour, kubernetes.Waiting, ""},
		{"a pod that failed without being scheduled resolves",
			newPod(unschedulable(t0), inPhase(corev1.PodFailed)), time.Hour, kubernetes.Clear, "pod finished (phase Failed) without being scheduled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(t0)
			clk.Step(tt.after)
			got, e := kubernetes.PendingLevel(tt.pod, clk.Now(), grace)
			if got != tt.want {
				t.Fatalf("PendingLevel = %s, want %s", got, tt.want)
			}
			switch tt.want {
			case kubernetes.Troubled:
				if e.Type != event.PodPending || e.Resolves() || e.ResourceName != "web-1" || e.Message != tt.wantMessage || !e.Timestamp.Equal(t0) {
					t.Fatalf("event = %+v, want pod-pending on web-1 since t0 saying %q", e, tt.wantMessage)
				}
			case kubernetes.Clear:
				if e.Type != event.PodPending || e.Resolution != event.Recovered || !strings.HasPrefix(e.Message, tt.wantMessage) {
					t.Fatalf("event = %+v, want pod-pending recovered saying %q", e, tt.wantMessage)
				}
			}
		})
	}
}

func TestRestartLevel(t *testing.T) {
	crashed := t0.Add(-time.Minute)
	tests := []struct {
		name        string
		pod         *corev1.Pod
		after       time.Duration
		want        kubernetes.Level
		wantMessage string
	}{
		{"a container waiting in CrashLoopBackOff is crash-looping",
			newPod(containers(status("app", restarts(3), waiting("CrashLoopBackOff"), lastTerminated("Error", 1, crashed)))), 0,
			kubernetes.Troubled, "container app is crash-looping (restart count 3); last exit: Error (code 1)"},
		{"an init container waiting in CrashLoopBackOff is crash-looping",
			newPod(initContainers(nil, status("migrate", restarts(2), waiting("CrashLoopBackOff"), lastTerminated("Error", 2, crashed))),
				containers(status("app", waiting("PodInitializing")))), 0,
			kubernetes.Troubled, "init container migrate is crash-looping (restart count 2); last exit: Error (code 2)"},
		{"a sidecar waiting in CrashLoopBackOff is crash-looping",
			newPod(initContainers([]string{"proxy"}, status("proxy", restarts(4), waiting("CrashLoopBackOff"))),
				containers(status("app", runningSince(t0, true)))), 0,
			kubernetes.Troubled, "sidecar container proxy is crash-looping (restart count 4); no termination recorded"},
		{"a restarted container ready for less than the recovery time is still firing",
			newPod(containers(status("app", restarts(3), runningSince(t0, true)))), recovery - time.Second, kubernetes.Waiting, ""},
		{"a restarted container ready for the recovery time has recovered",
			newPod(containers(status("app", restarts(3), runningSince(t0, true)))), recovery,
			kubernetes.Clear, "every restarted container has run ready for 5m0s"},
		{"a restarted container that runs but is not ready is still firing",
			newPod(containers(status("app", restarts(3), runningSince(t0, false)))), time.Hour, kubernetes.Waiting, ""},
		{"readiness regained after the start counts from then",
			newPod(containers(status("app", restarts(3), runningSince(t0, true))),
				condition(corev1.ContainersReady, corev1.ConditionTrue, "", t0.Add(4*time.Minute))), recovery, kubernetes.Waiting, ""},
		{"a container that restarted but is waiting for another reason is still firing",
			newPod(containers(status("app", restarts(3), waiting("ContainerCreating")))), time.Hour, kubernetes.Waiting, ""},
		{"a restarted init container that then completed has recovered after the recovery time",
			newPod(initContainers(nil, status("migrate", restarts(2), terminatedNow("Completed", 0, t0))),
				containers(status("app", runningSince(t0, true)))), recovery, kubernetes.Clear, "every restarted container"},
		{"a restarted container that then completed, as a Job's does, has recovered after the recovery time",
			newPod(containers(status("app", restarts(1), terminatedNow("Completed", 0, t0)))), recovery, kubernetes.Clear, "every restarted container"},
		{"a restarted container that exited with an error again has not recovered",
			newPod(containers(status("app", restarts(1), terminatedNow("Error", 1, t0)))), time.Hour, kubernetes.Waiting, ""},
		{"a restarted init container that runs again has not recovered",
			newPod(initContainers(nil, status("migrate", restarts(2), runningSince(t0, false)))), time.Hour, kubernetes.Waiting, ""},
		{"a restarted sidecar running ready for the recovery time has recovered",
			newPod(initContainers([]string{"proxy"}, status("proxy", restarts(1), runningSince(t0, true))),
				containers(status("app", runningSince(t0, true)))), recovery, kubernetes.Clear, "every restarted container"},
		{"a pod whose containers never restarted is clear",
			newPod(containers(status("app", runningSince(t0, true)))), 0, kubernetes.Clear, "no container of the pod has restarted"},
		{"a finished pod restarts nothing more",
			newPod(inPhase(corev1.PodFailed), containers(status("app", restarts(5), terminatedNow("Error", 1, t0)))), 0,
			kubernetes.Clear, "pod finished (phase Failed)"},
		{"a crash-looping pod being deleted is left to its deletion",
			newPod(deleting(t0), containers(status("app", restarts(3), waiting("CrashLoopBackOff")))), 0, kubernetes.Waiting, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(t0)
			clk.Step(tt.after)
			got, e := kubernetes.RestartLevel(tt.pod, clk.Now(), recovery)
			if got != tt.want {
				t.Fatalf("RestartLevel = %s, want %s", got, tt.want)
			}
			switch tt.want {
			case kubernetes.Troubled:
				if e.Type != event.PodRestart || e.Resolves() || e.Reason != "CrashLoopBackOff" || e.Message != tt.wantMessage {
					t.Fatalf("event = %+v, want a crash-looping pod-restart saying %q", e, tt.wantMessage)
				}
			case kubernetes.Clear:
				if e.Type != event.PodRestart || e.Resolution != event.Recovered || !strings.HasPrefix(e.Message, tt.wantMessage) {
					t.Fatalf("event = %+v, want pod-restart recovered saying %q", e, tt.wantMessage)
				}
			}
		})
	}
}

func TestFromPodListing(t *testing.T) {
	tests := []struct {
		name         string
		pod          *corev1.Pod
		wantTypes    []event.Type
		wantMessages []string
	}{
		{"an OOM kill in the last state within the window is news",
			newPod(containers(status("app", restarts(1), runningSince(t0.Add(-time.Minute), true), lastTerminated("OOMKilled", 137, t0.Add(-2*time.Minute))))),
			[]event.Type{event.PodRestart, event.OOMKill},
			[]string{"container app restarted (restart count 1); last exit: OOMKilled (code 137)", "container app was killed for running out of memory (exit code 137)"}},
		{"an OOM kill older than the window is history",
			newPod(containers(status("app", restarts(1), runningSince(t0.Add(-time.Hour), true), lastTerminated("OOMKilled", 137, t0.Add(-window))))),
			nil, nil},
		{"an OOM kill in the state of a container that will not restart is news",
			newPod(containers(status("app", terminatedNow("OOMKilled", 137, t0.Add(-time.Minute))))),
			[]event.Type{event.OOMKill}, []string{"container app was killed for running out of memory (exit code 137)"}},
		{"a restart within the window is news",
			newPod(containers(status("app", restarts(4), runningSince(t0.Add(-time.Minute), true), lastTerminated("Error", 1, t0.Add(-9*time.Minute))))),
			[]event.Type{event.PodRestart}, []string{"container app restarted (restart count 4); last exit: Error (code 1)"}},
		{"a restart whose time is not recorded is history",
			newPod(containers(status("app", restarts(4), runningSince(t0.Add(-time.Minute), true)))), nil, nil},
		{"an init container's recent restart is news",
			newPod(initContainers(nil, status("migrate", restarts(1), terminatedNow("Completed", 0, t0), lastTerminated("Error", 3, t0.Add(-time.Minute))))),
			[]event.Type{event.PodRestart}, []string{"init container migrate restarted (restart count 1); last exit: Error (code 3)"}},
		{"a pod that never restarted has no news",
			newPod(containers(status("app", runningSince(t0.Add(-time.Hour), true)))), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(t0)
			got := kubernetes.FromPodListing(tt.pod, clk.Now(), window)
			var types []event.Type
			var messages []string
			for _, e := range got {
				types, messages = append(types, e.Type), append(messages, e.Message)
				if e.Resolves() || e.ResourceName != "web-1" || e.Namespace != "apps" || e.Source != "kubernetes" {
					t.Fatalf("event = %+v, want trouble on apps/web-1", e)
				}
			}
			if !slices.Equal(types, tt.wantTypes) || !slices.Equal(messages, tt.wantMessages) {
				t.Fatalf("FromPodListing = %v %q\nwant %v %q", types, messages, tt.wantTypes, tt.wantMessages)
			}
		})
	}
}

func TestFromPodChange(t *testing.T) {
	crash := lastTerminated("Error", 1, t0)
	oom := lastTerminated("OOMKilled", 137, t0)
	tests := []struct {
		name         string
		old, new     *corev1.Pod
		wantTypes    []event.Type
		wantMessages []string
	}{
		{"a grown restart count is a restart",
			newPod(containers(status("app"))), newPod(containers(status("app", restarts(1), crash))),
			[]event.Type{event.PodRestart}, []string{"container app restarted (restart count 1); last exit: Error (code 1)"}},
		{"a restart after an OOM kill is a restart and an OOM kill",
			newPod(containers(status("app", restarts(2), crash))), newPod(containers(status("app", restarts(3), oom))),
			[]event.Type{event.PodRestart, event.OOMKill}, nil},
		{"an unchanged restart count is nothing, whatever the last state",
			newPod(containers(status("app", restarts(3), oom))), newPod(containers(status("app", restarts(3), oom))), nil, nil},
		{"a container that will not restart shows its OOM kill in its state",
			newPod(containers(status("app"))), newPod(containers(status("app", terminatedNow("OOMKilled", 137, t0)))),
			[]event.Type{event.OOMKill}, []string{"container app was killed for running out of memory (exit code 137)"}},
		{"an init container's grown restart count is a restart",
			newPod(initContainers(nil, status("migrate"))), newPod(initContainers(nil, status("migrate", restarts(1), crash))),
			[]event.Type{event.PodRestart}, []string{"init container migrate restarted (restart count 1); last exit: Error (code 1)"}},
		{"a sidecar's grown restart count is a restart",
			newPod(initContainers([]string{"proxy"}, status("proxy", restarts(1)))), newPod(initContainers([]string{"proxy"}, status("proxy", restarts(2), oom))),
			[]event.Type{event.PodRestart, event.OOMKill},
			[]string{"sidecar container proxy restarted (restart count 2); last exit: OOMKilled (code 137)", "sidecar container proxy was killed for running out of memory (exit code 137)"}},
		{"a container new in the status is not a change",
			newPod(), newPod(containers(status("app", restarts(2), crash))), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := kubernetes.FromPodChange(tt.old, tt.new, t0)
			var types []event.Type
			var messages []string
			for _, e := range got {
				types, messages = append(types, e.Type), append(messages, e.Message)
			}
			if !slices.Equal(types, tt.wantTypes) || (tt.wantMessages != nil && !slices.Equal(messages, tt.wantMessages)) {
				t.Fatalf("FromPodChange = %v %q\nwant %v %q", types, messages, tt.wantTypes, tt.wantMessages)
			}
		})
	}
}

func TestFromPodEvent(t *testing.T) {
	probe := kubeEvent("Pod", "Unhealthy", "Readiness probe failed: connection refused")
	probe.Regarding.UID = "uid-web-1"
	tests := []struct {
		name   string
		pod    *corev1.Pod
		want   event.Type
		wantOK bool
	}{
		{"a probe failure on a running pod is probe-failed", newPod(scheduledOn("node-1", t0)), event.ProbeFailed, true},
		{"a probe failure on a pod being deleted is the kubelet stopping it", newPod(scheduledOn("node-1", t0), deleting(t0)), "", false},
		{"a probe failure on a pod the cache does not know is probe-failed", nil, event.ProbeFailed, true},
		{"a probe failure about an earlier pod of the same name is about a pod that is gone", newPod(withUID("uid-web-1-again")), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := kubernetes.FromPodEvent(probe, tt.pod)
			if ok != tt.wantOK || got.Type != tt.want {
				t.Fatalf("FromPodEvent = %q, %v; want %q, %v", got.Type, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestPolicyNumbers(t *testing.T) {
	tests := []struct {
		name               string
		policy             kubernetes.PodPolicy
		wantReassert, scan time.Duration
	}{
		{"the defaults re-assert every 3m20s and scan every 15s", kubernetes.PodPolicy{PendingGrace: grace, RestartRecovery: recovery, Window: window}, window / 3, 15 * time.Second},
		{"a long grace period and recovery scan every 30s at most", kubernetes.PodPolicy{PendingGrace: time.Hour, RestartRecovery: time.Hour, Window: time.Hour}, 20 * time.Minute, 30 * time.Second},
		{"a zero grace period scans every second at least", kubernetes.PodPolicy{PendingGrace: 0, RestartRecovery: 0, Window: 2 * time.Second}, 2 * time.Second / 3, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Reassert(); got != tt.wantReassert {
				t.Fatalf("Reassert = %s, want %s", got, tt.wantReassert)
			}
			if got := tt.policy.ScanInterval(); got != tt.scan {
				t.Fatalf("ScanInterval = %s, want %s", got, tt.scan)
			}
		})
	}
}
