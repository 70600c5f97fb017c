package app

import (
	"context"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/khook-dev/khook/adapters/sources"
	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

// namedSource is an embedder's source.
type namedSource struct {
	name  string
	types []event.Type
}

func (s namedSource) Info() ports.SourceInfo {
	return ports.SourceInfo{Name: s.name, EventTypes: s.types}
}
func (namedSource) Init(context.Context, ports.Settings) error           { return nil }
func (namedSource) Watch(context.Context, ports.EventSink, func()) error { return nil }
func (namedSource) Stop(context.Context) error                           { return nil }

// newManager returns a manager that is never started (nothing listens at its API server).
func newManager(t *testing.T) ctrl.Manager {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha2.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(&rest.Config{Host: "http://127.0.0.1:1"}, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Logger: logr.Discard(), Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return mgr
}

func TestSetupWithManagerWiresTheEventSources(t *testing.T) {
	no := false
	tests := []struct {
		name      string
		extra     []ports.EventSource
		config    *sources.Config
		wantTypes string
		wantErr   string
	}{
		{"without configuration the Kubernetes source runs alone, as before", nil, nil,
			"[node-not-ready oom-kill pod-pending pod-restart probe-failed]", ""},
		{"extra sources are enabled by default", []ports.EventSource{namedSource{"tickets", []event.Type{"ticket-opened"}}}, nil,
			"[node-not-ready oom-kill pod-pending pod-restart probe-failed ticket-opened]", ""},
		{"configured built-in sources add their types, mapped ones included",
			nil, &sources.Config{
				EventSources: []sources.SourceConfig{{Name: "kubernetes", Enabled: &no}, {Name: "alertmanager"}, {Name: "prometheus", Settings: ports.Settings{"endpoint": "http://prom:9090"}}},
				Mappings:     []sources.Mapping{{EventSource: "alertmanager", EventType: "job-failed", InternalType: "KubeJobFailed"}},
			},
			"[alert-firing job-failed prometheus-alert]", ""},
		{"an extra source named like a built-in one replaces it", []ports.EventSource{namedSource{"alertmanager", []event.Type{"my-alert"}}},
			&sources.Config{EventSources: []sources.SourceConfig{{Name: "kubernetes", Enabled: &no}}},
			"[my-alert]", ""},
		{"a bad setting stops khook at setup, naming the source and the setting", nil,
			&sources.Config{EventSources: []sources.SourceConfig{{Name: "prometheus"}}}, "",
			`app.SetupWithManager: wiring: eventSources[0]: source "prometheus": initialising: setting "endpoint": is required`},
		{"an extra source claiming a Kubernetes type is refused", []ports.EventSource{namedSource{"restarts", []event.Type{"pod-restart"}}}, nil, "",
			`app.SetupWithManager: wiring: source "restarts": event type "pod-restart" is provided by both source "kubernetes" and source "restarts"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := SetupWithManager(context.Background(), newManager(t), Options{KagentURL: "http://kagent:8083", ExtraSources: tt.extra, EventSources: tt.config})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SetupWithManager: %v\nwant %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, ty := range k.Sources.EventTypes() {
				types = append(types, string(ty))
			}
			if got := "[" + strings.Join(types, " ") + "]"; got != tt.wantTypes {
				t.Errorf("event types %s, want %s", got, tt.wantTypes)
			}
		})
	}
}

// The design's two files (test/testdata/design, byte for byte) wire khook's real sources as
// they are written: the built-in Kubernetes and Prometheus sources take the design's
// settings (their pluginPath is ignored), the disabled datadog plugin is not loaded nor its
// variables needed, and the mappings make the design's types valid for Hooks.
func TestTheDesignsFilesWireTheBuiltInSources(t *testing.T) {
	fsys := fstest.MapFS{}
	for _, name := range []string{"event-watcher-config.yaml", "event-mappings.yaml"} {
		data, err := os.ReadFile("../test/testdata/design/" + name)
		if err != nil {
			t.Fatal(err)
		}
		fsys["etc/khook/"+name] = &fstest.MapFile{Data: data}
	}
	cfg, err := sources.LoadConfigFS(fsys, "/etc/khook/event-watcher-config.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("LoadConfigFS: %v", err)
	}
	k, err := SetupWithManager(context.Background(), newManager(t), Options{KagentURL: "http://kagent:8083", EventSources: cfg})
	if err != nil {
		t.Fatalf("SetupWithManager: %v", err)
	}
	var types []string
	for _, ty := range k.Sources.EventTypes() {
		types = append(types, string(ty))
	}
	// eventTypes [PodRestart, OOMKill, ProbeFailed] leaves pod-pending out, so its mapping
	// never applies; PrometheusAlert → alert-firing makes alert-firing Prometheus'.
	if got, want := strings.Join(types, " "), "alert-firing oom-kill pod-restart probe-failed prometheus-alert"; got != want {
		t.Errorf("event types [%s], want [%s]", got, want)
	}
	var running []string
	for _, s := range k.Sources.States() {
		running = append(running, s.Name+" "+s.Origin)
	}
	if got, want := strings.Join(running, ", "), "kubernetes registered, prometheus registered"; got != want {
		t.Errorf("sources %s, want %s", got, want)
	}
}

// The Nodes' readiness (ports.Nodes) is wired from the manager's cache, whichever sources run,
// and kept by every replica (it needs no leader).
func TestSetupWithManagerKeepsTheNodesStateFromTheManagersCache(t *testing.T) {
	no := false
	for _, config := range []*sources.Config{nil, {EventSources: []sources.SourceConfig{{Name: "kubernetes", Enabled: &no}}}} {
		mgr := newManager(t)
		k, err := SetupWithManager(context.Background(), mgr, Options{KagentURL: "http://kagent:8083", EventSources: config})
		if err != nil {
			t.Fatal(err)
		}
		var nodes ports.Nodes = k.Nodes
		if k.Nodes == nil || k.Nodes.Cache != mgr.GetCache() || k.Nodes.NeedLeaderElection() {
			t.Fatalf("Nodes = %+v, want NodeStates of the manager's cache, on every replica", k.Nodes)
		}
		if s := nodes.State("node-1"); s.Known {
			t.Fatalf("before the manager starts, node-1 is %+v, want not known", s)
		}
	}
}
