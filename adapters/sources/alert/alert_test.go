package alert_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/khook-dev/khook/adapters/sources/alert"
	"github.com/khook-dev/khook/domain/event"
)

func TestAlertEvent(t *testing.T) {
	start := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		alert alert.Alert
		want  event.Event
	}{
		{
			name: "an alert about a pod becomes an event on that pod in its namespace",
			alert: alert.Alert{
				Labels:      map[string]string{"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "api-0", "severity": "warning"},
				Annotations: map[string]string{"summary": "api-0 is crash looping", "description": "It restarted 5 times", "severity": "ignored"},
				StartsAt:    start, Fingerprint: "abc123",
			},
			want: event.Event{
				Type: "alert-firing", ResourceKind: "Pod", ResourceName: "api-0", Namespace: "shop", Reason: "KubePodCrashLooping",
				Message: "api-0 is crash looping", Timestamp: start, Source: "alertmanager", Fingerprint: "abc123",
				SourceType: "KubePodCrashLooping", Severity: "warning", Description: "It restarted 5 times",
				Metadata: map[string]string{"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "api-0", "severity": "warning",
					"summary": "api-0 is crash looping", "description": "It restarted 5 times"},
			},
		},
		{
			name: "an alert without namespace or pod is cluster-wide and named by its alertname",
			alert: alert.Alert{
				Labels:      map[string]string{"alertname": "EtcdNoLeader"},
				Annotations: map[string]string{"description": "etcd has no leader"},
				StartsAt:    start, Fingerprint: "f00",
			},
			want: event.Event{
				Type: "alert-firing", ResourceKind: "Alert", ResourceName: "EtcdNoLeader", Reason: "EtcdNoLeader",
				Message: "etcd has no leader", Timestamp: start, Source: "alertmanager", Fingerprint: "f00", SourceType: "EtcdNoLeader",
				Description: "etcd has no leader",
				Metadata:    map[string]string{"alertname": "EtcdNoLeader", "description": "etcd has no leader"},
			},
		},
		{
			name:  "an alert without a fingerprint or annotations gets a computed fingerprint and a plain message",
			alert: alert.Alert{Labels: map[string]string{"alertname": "Up", "job": "x"}, StartsAt: start},
			want: event.Event{
				Type: "alert-firing", ResourceKind: "Alert", ResourceName: "Up", Reason: "Up", Message: "Up is firing",
				Timestamp: start, Source: "alertmanager", Fingerprint: alert.Fingerprint(map[string]string{"alertname": "Up", "job": "x"}),
				SourceType: "Up", Metadata: map[string]string{"alertname": "Up", "job": "x"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.alert.Event("alertmanager", "alert-firing"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestFingerprintIsStableAndOrderFree(t *testing.T) {
	a := alert.Fingerprint(map[string]string{"alertname": "X", "pod": "p", "namespace": "n"})
	b := alert.Fingerprint(map[string]string{"namespace": "n", "pod": "p", "alertname": "X"})
	if a != b || len(a) != 16 {
		t.Errorf("fingerprints %q and %q should be equal 16-digit strings", a, b)
	}
	// Fixed value: changing it changes every stored dedup key.
	if want := "b05b09a7dc6c24b7"; alert.Fingerprint(map[string]string{"alertname": "X"}) != want {
		t.Errorf("Fingerprint({alertname: X}) = %s, want %s", alert.Fingerprint(map[string]string{"alertname": "X"}), want)
	}
	if alert.Fingerprint(map[string]string{"a": "bc"}) == alert.Fingerprint(map[string]string{"ab": "c"}) {
		t.Error("label boundaries must count")
	}
}
