package alert_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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
				Labels: map[string]string{"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "api-0", "severity": "warning"},
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
				Labels:      map[string]string{"alertname": "EtcdNoLeader"},
			},
		},
		{
			name:  "an alert without a fingerprint or annotations gets a computed fingerprint and a plain message",
			alert: alert.Alert{Labels: map[string]string{"alertname": "Up", "job": "x"}, StartsAt: start},
			want: event.Event{
				Type: "alert-firing", ResourceKind: "Alert", ResourceName: "Up", Reason: "Up", Message: "Up is firing",
				Timestamp: start, Source: "alertmanager", Fingerprint: alert.Fingerprint(map[string]string{"alertname": "Up", "job": "x"}),
				SourceType: "Up", Metadata: map[string]string{"alertname": "Up", "job": "x"}, Labels: map[string]string{"alertname": "Up", "job": "x"},
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

func TestAlertEventKeepsWithinTheBounds(t *testing.T) {
	long := func(prefix string, n int) string { return prefix + strings.Repeat("x", n-len(prefix)) }
	many := func(n int, value string) map[string]string {
		m := map[string]string{"alertname": "Flood", "namespace": "shop", "pod": "api-0", "severity": "critical"}
		for i := range n {
			m[fmt.Sprintf("label-%03d", i)] = value
		}
		return m
	}
	tests := []struct {
		name  string
		alert alert.Alert
		check func(t *testing.T, e event.Event)
	}{
		{"a fingerprint longer than the CRD's 128 characters is replaced by its SHA-256",
			alert.Alert{Labels: map[string]string{"alertname": "X"}, Fingerprint: long("fp-", 129)},
			func(t *testing.T, e event.Event) {
				sum := sha256.Sum256([]byte(long("fp-", 129)))
				if e.Fingerprint != hex.EncodeToString(sum[:]) {
					t.Errorf("fingerprint %q, want the hex SHA-256 of the given one", e.Fingerprint)
				}
			}},
		{"a fingerprint of exactly 128 characters is kept",
			alert.Alert{Labels: map[string]string{"alertname": "X"}, Fingerprint: long("fp-", 128)},
			func(t *testing.T, e event.Event) {
				if e.Fingerprint != long("fp-", 128) {
					t.Errorf("fingerprint %q changed", e.Fingerprint)
				}
			}},
		{"beyond 64 labels and annotations the ones prompts need are kept first",
			alert.Alert{Labels: many(200, "v"), Annotations: map[string]string{"summary": "s", "description": "d", "runbook_url": "r", "other": "o"}},
			func(t *testing.T, e event.Event) {
				if len(e.Metadata) != alert.MaxMetadataKeys {
					t.Errorf("%d metadata keys, want %d", len(e.Metadata), alert.MaxMetadataKeys)
				}
				for _, k := range []string{"alertname", "namespace", "pod", "severity", "summary", "description", "runbook_url", "label-000"} {
					if _, ok := e.Metadata[k]; !ok {
						t.Errorf("metadata lacks %s", k)
					}
				}
				if _, ok := e.Metadata["label-199"]; ok {
					t.Error("metadata keeps label-199, past the bound")
				}
				if e.Message != "s" || e.Description != "d" || e.Namespace != "shop" || e.ResourceName != "api-0" || e.Severity != "critical" {
					t.Errorf("fields %+v", e)
				}
			}},
		{"labels and annotations together keep at most 8 KiB",
			alert.Alert{Labels: many(60, strings.Repeat("v", 1000)), Annotations: map[string]string{"summary": "s"}},
			func(t *testing.T, e event.Event) {
				total := 0
				for k, v := range e.Metadata {
					total += len(k) + len(v)
				}
				if total > alert.MaxMetadataBytes || e.Metadata["summary"] != "s" || e.Metadata["alertname"] != "Flood" {
					t.Errorf("%d bytes of metadata in %d keys (summary %q)", total, len(e.Metadata), e.Metadata["summary"])
				}
			}},
		{"a huge summary is cut at a character boundary, for the message and the metadata alike",
			alert.Alert{Labels: map[string]string{"alertname": "X"}, Annotations: map[string]string{"summary": strings.Repeat("é", 1<<20)}},
			func(t *testing.T, e event.Event) {
				if len(e.Message) > alert.MaxAnnotationValueBytes || len(e.Message) < alert.MaxAnnotationValueBytes-1 || !utf8.ValidString(e.Message) {
					t.Errorf("message of %d bytes (valid UTF-8: %v)", len(e.Message), utf8.ValidString(e.Message))
				}
				if e.Metadata["summary"] != e.Message {
					t.Error("the metadata's summary differs from the message")
				}
			}},
		{"a huge label value is cut, and so are the fields made of it",
			alert.Alert{Labels: map[string]string{"alertname": long("A", 1<<20), "namespace": long("n", 1<<20), "severity": long("s", 5000)}},
			func(t *testing.T, e event.Event) {
				if len(e.Metadata["alertname"]) != alert.MaxLabelValueBytes {
					t.Errorf("alertname of %d bytes kept", len(e.Metadata["alertname"]))
				}
				for name, v := range map[string]string{"Reason": e.Reason, "SourceType": e.SourceType, "ResourceName": e.ResourceName,
					"Namespace": e.Namespace, "Severity": e.Severity, "Message": e.Message} {
					if len(v) > alert.MaxNameBytes+len(" is firing") {
						t.Errorf("%s of %d bytes", name, len(v))
					}
				}
			}},
		{"a name longer than 128 bytes is dropped, not cut",
			alert.Alert{Labels: map[string]string{"alertname": "X", long("k", 129): "v"}},
			func(t *testing.T, e event.Event) {
				if len(e.Metadata) != 1 {
					t.Errorf("metadata %v", e.Metadata)
				}
			}},
		{"without a fingerprint one is computed from every label, so that cutting them merges no alerts",
			alert.Alert{Labels: many(100, "v")},
			func(t *testing.T, e event.Event) {
				if e.Fingerprint != alert.Fingerprint(many(100, "v")) {
					t.Errorf("fingerprint %s is not that of all the labels", e.Fingerprint)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.alert.Event("alertmanager", "alert-firing")
			tt.check(t, e)
			if got, want := tt.alert.Fits(), reflect.DeepEqual(e.Metadata, union(tt.alert)) && e.Fingerprint == orComputed(tt.alert); got != want {
				t.Errorf("Fits() = %v, but Event kept everything: %v", got, want)
			}
		})
	}
}

// union is every label and annotation of a, labels winning.
func union(a alert.Alert) map[string]string {
	m := map[string]string{}
	for k, v := range a.Annotations {
		m[k] = v
	}
	for k, v := range a.Labels {
		m[k] = v
	}
	return m
}

func orComputed(a alert.Alert) string {
	if a.Fingerprint == "" {
		return alert.Fingerprint(a.Labels)
	}
	return a.Fingerprint
}

// TestEventsOfHugeAlertsHoldOnlyWhatTheyKeep converts alerts of megabytes and keeps their events,
// as the dedup store does: the heap must not hold the alerts' text, only the bounded events.
func TestEventsOfHugeAlertsHoldOnlyWhatTheyKeep(t *testing.T) {
	const alerts = 40
	// Each event keeps at most MaxMetadataBytes of metadata, a message and a description not
	// shared with it, and small fields: 16 KiB, twice that for map and allocation overhead.
	const bound = alerts * 32 << 10
	before := heapInUse()
	events := make([]event.Event, 0, alerts)
	for i := range alerts {
		huge := strings.Repeat(fmt.Sprint(i%10), 1<<20)
		a := alert.Alert{
			Labels:      map[string]string{"alertname": "Huge", "namespace": "shop", "pod": fmt.Sprint("api-", i), "blob": huge[:1<<19]},
			Annotations: map[string]string{"summary": huge, "description": huge[1:], "runbook": huge[2:]},
		}
		events = append(events, a.Event("alertmanager", "alert-firing"))
	}
	held := heapInUse() - before
	runtime.KeepAlive(events)
	t.Logf("%d events of 1 MiB alerts hold %d KiB (bound %d KiB)", alerts, held>>10, bound>>10)
	if held > bound {
		t.Errorf("%d events hold %d KiB of heap, more than the %d KiB their bounds allow", alerts, held>>10, bound>>10)
	}
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// An alert's labels are its event's labels, which Hook selectors match: its own map when they
// fit, bounded without changing a selector's answer when they do not; its annotations are not
// labels.
func TestAnAlertsLabelsAreItsEventsLabels(t *testing.T) {
	long := strings.Repeat("x", event.MaxLabelValueBytes+1)
	many := map[string]string{"alertname": "Many"}
	for i := range event.MaxLabels {
		many[fmt.Sprintf("l%02d", i)] = "v"
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   map[string]string
		shared bool
	}{
		{"labels that fit are the alert's own map", map[string]string{"alertname": "HighLatency", "team": "payments", "tier": "critical"},
			map[string]string{"alertname": "HighLatency", "team": "payments", "tier": "critical"}, true},
		{"a value longer than a label value stands as too long", map[string]string{"alertname": "Slow", "url": long},
			map[string]string{"alertname": "Slow", "url": event.LabelValueTooLong}, false},
		{"beyond the count, the first labels by name are kept", many, func() map[string]string {
			m := map[string]string{"alertname": "Many"}
			for i := range event.MaxLabels - 1 {
				m[fmt.Sprintf("l%02d", i)] = "v"
			}
			return m
		}(), false},
		{"an alert without labels has none", nil, map[string]string{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := alert.Alert{Labels: tt.labels, Annotations: map[string]string{"summary": "it is slow", "owner": "team-a"}}
			e := a.Event("alertmanager", "alert-firing")
			if !reflect.DeepEqual(e.Labels, tt.want) {
				t.Fatalf("labels = %v, want %v", e.Labels, tt.want)
			}
			if got := e.SelectorLabels(); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("selectors see %v, want %v (the annotations are not labels)", got, tt.want)
			}
			if same := reflect.ValueOf(e.Labels).UnsafePointer() == reflect.ValueOf(tt.labels).UnsafePointer(); same != tt.shared {
				t.Fatalf("the event shares the alert's map: %v, want %v", same, tt.shared)
			}
			if v, ok := e.Metadata["url"]; ok && v != long {
				t.Fatalf("the metadata lost the long value: %q", v)
			}
		})
	}
}
