package kubernetes_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/khook-dev/khook/adapters/sources/kubernetes"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

func kubeEvent(kind, reason, note string) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "e1"},
		Reason:     reason, Note: note, EventTime: metav1.NewMicroTime(time.Now()),
		Regarding: corev1.ObjectReference{Kind: kind, Namespace: "apps", Name: "web-1"},
	}
}

// nodeEvent is an Event about a Node: the Event object lives in "default", the Node in none.
func nodeEvent(reason, note string) *eventsv1.Event {
	e := kubeEvent("Node", reason, note)
	e.Namespace = "default"
	e.Regarding.Namespace = ""
	return e
}

func TestFromEvent(t *testing.T) {
	tests := []struct {
		name   string
		event  *eventsv1.Event
		want   event.Type
		wantOK bool
	}{
		{"a crash-looping container is a pod restart", kubeEvent("Pod", "BackOff", "Back-off restarting failed container app in pod web-1"), event.PodRestart, true},
		{"backing off an image pull is not a restart", kubeEvent("Pod", "BackOff", "Back-off pulling image \"web:2\""), "", false},
		{"a pod the scheduler cannot place is pending", kubeEvent("Pod", "FailedScheduling", "0/3 nodes are available"), event.PodPending, true},
		{"a failing liveness probe is a probe failure", kubeEvent("Pod", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500"), event.ProbeFailed, true},
		{"a failing startup probe is a probe failure", kubeEvent("Pod", "Unhealthy", "Startup probe failed: connection refused"), event.ProbeFailed, true},
		{"Unhealthy without a probe message is nothing", kubeEvent("Pod", "Unhealthy", "something else"), "", false},
		{"the kernel's OOMKilling is an OOM kill", kubeEvent("Node", "OOMKilling", "Memory cgroup out of memory: Killed process 42"), event.OOMKill, true},
		{"an OOMKilling on a node is cluster-wide even though its Event lives in a namespace", nodeEvent("OOMKilling", "Killed process 42"), event.OOMKill, true},
		{"stopping a container on deletion is not a restart", kubeEvent("Pod", "Killing", "Stopping container app"), "", false},
		{"BackOff on something other than a pod is nothing", kubeEvent("Deployment", "BackOff", "Back-off restarting failed container"), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := kubernetes.FromEvent(tt.event)
			if ok != tt.wantOK || got.Type != tt.want {
				t.Fatalf("FromEvent = %q, %v; want %q, %v", got.Type, ok, tt.want, tt.wantOK)
			}
			wantNS := tt.event.Regarding.Namespace
			if ok && (got.ResourceName != "web-1" || got.Namespace != wantNS || got.Source != "kubernetes") {
				t.Fatalf("event = %+v, want resource web-1 in namespace %q", got, wantNS)
			}
		})
	}
}

func TestInitTakesTheSettingsItKnowsAndNamesTheOneThatIsWrong(t *testing.T) {
	tests := []struct {
		name          string
		settings      ports.Settings
		wantErr       string
		wantGrace     time.Duration
		wantRecover   time.Duration
		wantNodeGrace time.Duration
	}{
		{"no settings mean the defaults", nil, "", time.Minute, 5 * time.Minute, time.Minute},
		{"a grace period is a Go duration", ports.Settings{"pendingGracePeriod": "90s"}, "", 90 * time.Second, 5 * time.Minute, time.Minute},
		{"both settings together", ports.Settings{"pendingGracePeriod": "0s", "restartRecoveryTime": "10m"}, "", 0, 10 * time.Minute, time.Minute},
		{"a node's grace period is a Go duration", ports.Settings{"nodeNotReadyGracePeriod": "3m"}, "", time.Minute, 5 * time.Minute, 3 * time.Minute},
		{"a setting with no value takes its default, as with every source", ports.Settings{"pendingGracePeriod": nil}, "", time.Minute, 5 * time.Minute, time.Minute},
		{"an unknown setting is refused by name", ports.Settings{"pendingGrace": "1m"},
			`unknown setting "pendingGrace" (known: eventTypes, namespaces, nodeNotReadyGracePeriod, pendingGracePeriod, restartRecoveryTime)`, 0, 0, 0},
		{"a duration that does not parse names its setting", ports.Settings{"restartRecoveryTime": "five minutes"}, `setting "restartRecoveryTime": "five minutes" is not a duration`, 0, 0, 0},
		{"a number is not a duration", ports.Settings{"pendingGracePeriod": 60}, `setting "pendingGracePeriod": 60 is not a duration`, 0, 0, 0},
		{"a negative duration is refused", ports.Settings{"pendingGracePeriod": "-1m"}, `setting "pendingGracePeriod": "-1m" is negative`, 0, 0, 0},
		{"a negative node grace is refused", ports.Settings{"nodeNotReadyGracePeriod": "-1s"}, `setting "nodeNotReadyGracePeriod": "-1s" is negative`, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &kubernetes.EventSource{}
			err := s.Init(context.Background(), tt.settings)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Init = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Init = %v", err)
			}
			if p := s.Policy(); p.PendingGrace != tt.wantGrace || p.RestartRecovery != tt.wantRecover || p.NodeGrace != tt.wantNodeGrace || p.Window != 10*time.Minute {
				t.Fatalf("policy = %+v, want grace %s, recovery %s, node grace %s, window 10m", p, tt.wantGrace, tt.wantRecover, tt.wantNodeGrace)
			}
		})
	}
}

// The design's settings: namespaces limits the namespaces reported, eventTypes the kinds of
// trouble, named by their internal names (PodRestart) or their event types (pod-restart).
func TestInitTakesNamespacesAndEventTypes(t *testing.T) {
	tests := []struct {
		name      string
		settings  ports.Settings
		wantTypes string
		wantErr   string
	}{
		{"without eventTypes every kind is reported", nil, "[pod-restart pod-pending oom-kill probe-failed node-not-ready]", ""},
		{"node-not-ready by its internal name", ports.Settings{"eventTypes": []any{"NodeNotReady", "pod-restart"}}, "[pod-restart node-not-ready]", ""},
		{"the design's settings load: kinds by their internal names",
			ports.Settings{"namespaces": []any{"default", "kube-system"}, "eventTypes": []any{"PodRestart", "OOMKill", "ProbeFailed"}},
			"[pod-restart oom-kill probe-failed]", ""},
		{"kinds by their event types, repeated", ports.Settings{"eventTypes": []any{"pod-pending", "PodPending", "oom-kill"}}, "[pod-pending oom-kill]", ""},
		{"an unknown kind is named with the known ones", ports.Settings{"eventTypes": []any{"PodRestart", "NodeDiskPressure"}}, "",
			`setting "eventTypes": "NodeDiskPressure" is not a kind of trouble the source reports (known: PodRestart, PodPending, OOMKill, ProbeFailed, NodeNotReady, pod-restart, pod-pending, oom-kill, probe-failed, node-not-ready)`},
		{"eventTypes must be a list", ports.Settings{"eventTypes": "PodRestart"}, "",
			`setting "eventTypes": want a list of event types, such as [a, b], got "PodRestart"`},
		{"an empty list is refused rather than reporting nothing", ports.Settings{"namespaces": []any{}}, "",
			`setting "namespaces": lists no namespaces: list at least one, or leave the setting out`},
		{"a namespace that cannot exist is refused", ports.Settings{"namespaces": []any{"Kube_System"}}, "",
			`setting "namespaces": "Kube_System" is not a namespace name`},
		{"a namespace must be a string", ports.Settings{"namespaces": []any{"default", 7}}, "",
			`setting "namespaces": item 1: want one of the namespaces, got 7 (int)`},
		{"the namespaces are bounded", ports.Settings{"namespaces": make([]any, kubernetes.MaxNamespaces+1)}, "",
			`setting "namespaces": lists 1001 namespaces, more than 1000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &kubernetes.EventSource{}
			err := s.Init(context.Background(), tt.settings)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("Init = %v\nwant an error starting %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Init = %v", err)
			}
			info := s.Info()
			if got := fmt.Sprint(info.EventTypes); got != tt.wantTypes {
				t.Errorf("Info().EventTypes = %s, want %s", got, tt.wantTypes)
			}
			if len(info.InternalTypes) != 5 {
				t.Errorf("Info().InternalTypes = %v, want all five kinds whatever the setting", info.InternalTypes)
			}
		})
	}
}
