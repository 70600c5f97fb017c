package sources_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/khook-dev/khook/adapters/sources"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

// designFS holds the design's two example files (docs: design 001, "Event Mapping
// Configuration" and "Configuration Files"), byte for byte, where the design puts them: its
// event-watcher-config.yaml names /etc/khook/event-mappings.yaml.
func designFS(t *testing.T) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, name := range []string{"event-watcher-config.yaml", "event-mappings.yaml"} {
		data, err := os.ReadFile("../../test/testdata/design/" + name)
		if err != nil {
			t.Fatal(err)
		}
		fsys["etc/khook/"+name] = &fstest.MapFile{Data: data}
	}
	return fsys
}

// The design's files load as written, with no variable set, and read as the design means them.
func TestTheDesignsFilesLoadAsWritten(t *testing.T) {
	c, err := sources.LoadConfigFS(designFS(t), "/etc/khook/event-watcher-config.yaml", env(nil))
	if err != nil {
		t.Fatalf("LoadConfigFS: %v", err)
	}
	yes, no := true, false
	want := sources.Config{
		File:            "/etc/khook/event-watcher-config.yaml",
		MappingFile:     "/etc/khook/event-mappings.yaml",
		PluginDirectory: "/opt/khook/plugins",
		EventSources: []sources.SourceConfig{
			{Name: "kubernetes", PluginPath: "/opt/khook/plugins/kubernetes.so", Enabled: &yes, Settings: ports.Settings{
				"namespaces": []any{"default", "kube-system"}, "eventTypes": []any{"PodRestart", "OOMKill", "ProbeFailed"}}},
			{Name: "prometheus", PluginPath: "/opt/khook/plugins/prometheus.so", Enabled: &yes, Settings: ports.Settings{
				"endpoint": "http://prometheus.example.com:9093", "interval": "30s",
				"alertLabels": []any{map[string]any{"severity": "critical"}, map[string]any{"team": "platform"}}}},
			// Disabled: its ${VAR}s are kept as written and need not be set.
			{Name: "datadog", PluginPath: "/opt/khook/plugins/datadog.so", Enabled: &no, Settings: ports.Settings{
				"apiKey": "${DATADOG_API_KEY}", "appKey": "${DATADOG_APP_KEY}", "interval": "60s"}},
		},
		GlobalSettings: sources.GlobalSettings{BufferSize: 1000, WorkerCount: 5, RetryAttempts: 3, RetryBackoff: 5 * time.Second},
		Mappings: []sources.Mapping{
			{EventSource: "kubernetes", EventType: "pod-restart", InternalType: "PodRestart", Description: "Pod container restart detected", Severity: "warning"},
			{EventSource: "kubernetes", EventType: "pod-pending", InternalType: "PodPending", Description: "Pod stuck in pending state", Severity: "error"},
			{EventSource: "kubernetes", EventType: "oom-kill", InternalType: "OOMKill", Description: "Process killed due to out of memory", Severity: "critical"},
			{EventSource: "prometheus", EventType: "alert-firing", InternalType: "PrometheusAlert", Description: "Prometheus alert triggered", Severity: "warning"},
			{EventSource: "cloudwatch", EventType: "alarm-state-change", InternalType: "CloudWatchAlarm", Description: "AWS CloudWatch alarm state changed", Severity: "error"},
			{EventSource: "datadog", EventType: "monitor-alert", InternalType: "DataDogMonitor", Description: "DataDog monitor alert", Severity: "warning"},
		},
	}
	if got := exported(*c); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// The design's mappings mean what it says once khook runs them: the Kubernetes source's
// PodRestart is pod-restart with severity warning, OOMKill oom-kill with critical, a Prometheus
// alert (internal type PrometheusAlert) is alert-firing with warning; mappings of sources khook
// does not run (cloudwatch, datadog) never apply; the built-in sources are used whatever their
// pluginPath says.
func TestTheDesignsFilesMeanWhatTheDesignSays(t *testing.T) {
	c, err := sources.LoadConfigFS(designFS(t), "/etc/khook/event-watcher-config.yaml", env(nil))
	if err != nil {
		t.Fatalf("LoadConfigFS: %v", err)
	}
	kube := steady("kubernetes", event.KubernetesTypes...)
	kube.internal = []ports.InternalType{{Name: "PodRestart", Type: event.PodRestart}, {Name: "PodPending", Type: event.PodPending},
		{Name: "OOMKill", Type: event.OOMKill}, {Name: "ProbeFailed", Type: event.ProbeFailed}, {Name: "NodeNotReady", Type: event.NodeNotReady}}
	prom := steady("prometheus", "prometheus-alert")
	prom.internal, prom.named = []ports.InternalType{{Name: "PrometheusAlert", Type: "prometheus-alert"}}, true
	reg := sources.NewRegistry()
	must(t, reg.Register(kube, true))
	must(t, reg.Register(prom, false))
	r, err := sources.NewRouter(context.Background(), reg, c, plugins{}, nil, testr.New(t))
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	if got, want := fmt.Sprint(r.EventTypes()), "[alert-firing node-not-ready oom-kill pod-pending pod-restart probe-failed prometheus-alert]"; got != want {
		t.Errorf("EventTypes() = %s, want %s", got, want)
	}
	var origins []string
	for _, s := range r.States() {
		origins = append(origins, s.Name+" "+s.Origin)
	}
	if got := strings.Join(origins, ", "); got != "kubernetes registered, prometheus registered" {
		t.Errorf("sources %s; want the built-in kubernetes and prometheus, no plugin", got)
	}
	if kube.settings["namespaces"] == nil || prom.settings["alertLabels"] == nil {
		t.Errorf("the sources were not given their settings: kubernetes %v, prometheus %v", kube.settings, prom.settings)
	}
	sink := &recorder{}
	runRouter(t, r, sink)
	kube.events <- event.Event{Type: event.PodRestart, Namespace: "default", ResourceName: "restarted"}
	kube.events <- event.Event{Type: event.OOMKill, Namespace: "default", ResourceName: "oom"}
	kube.events <- event.Event{Type: event.PodPending, Namespace: "default", ResourceName: "pending"}
	kube.events <- event.Event{Type: event.ProbeFailed, Namespace: "default", ResourceName: "unmapped"}
	prom.events <- event.Event{Type: "prometheus-alert", SourceType: "HighLatency", ResourceName: "alert", Severity: "critical"}
	eventually(t, 5*time.Second, func() error {
		if n := len(sink.got()); n != 5 {
			return fmt.Errorf("%d events handled", n)
		}
		return nil
	})
	got := map[string]string{}
	for _, e := range sink.got() {
		got[e.ResourceName] = fmt.Sprintf("%s/%s/%s", e.Type, e.Severity, e.Description)
	}
	want := map[string]string{
		"restarted": "pod-restart/warning/Pod container restart detected",
		"oom":       "oom-kill/critical/Process killed due to out of memory",
		"pending":   "pod-pending/error/Pod stuck in pending state",
		"unmapped":  "probe-failed//",
		"alert":     "alert-firing/warning/Prometheus alert triggered",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}
