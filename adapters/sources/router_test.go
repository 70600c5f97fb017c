package sources_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"

	"github.com/khook-dev/khook/adapters/sources"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

// fakeSource is a source whose Watch does what behave says, each attempt.
type fakeSource struct {
	name     string
	types    []event.Type
	internal []ports.InternalType // its kinds in its own words
	named    bool                 // its events carry their own names (SourceType)
	initErr  error
	behave   func(attempt int, ctx context.Context, sink ports.EventSink, running func()) error
	settings ports.Settings
	events   chan event.Event // steady sources deliver what is sent here

	attempts atomic.Int64
	inits    atomic.Int64
	stopped  atomic.Int64
}

func (s *fakeSource) Info() ports.SourceInfo {
	return ports.SourceInfo{Name: s.name, Version: "test", EventTypes: s.types, InternalTypes: s.internal, NamedEvents: s.named}
}

func (s *fakeSource) Init(_ context.Context, settings ports.Settings) error {
	s.settings = settings
	s.inits.Add(1)
	return s.initErr
}

func (s *fakeSource) Watch(ctx context.Context, sink ports.EventSink, running func()) error {
	return s.behave(int(s.attempts.Add(1)), ctx, sink, running)
}

func (s *fakeSource) Stop(context.Context) error { s.stopped.Add(1); return nil }

// steady delivers whatever is sent on its events channel until ctx is done.
func steady(name string, types ...event.Type) *fakeSource {
	s := &fakeSource{name: name, types: types, events: make(chan event.Event, 100)}
	s.behave = func(_ int, ctx context.Context, sink ports.EventSink, running func()) error {
		running()
		for {
			select {
			case <-ctx.Done():
				return nil
			case e := <-s.events:
				sink.Handle(ctx, e)
			}
		}
	}
	return s
}

func failing(name string, fail func(attempt int, running func()) error) *fakeSource {
	return &fakeSource{name: name, types: []event.Type{event.Type(name + "-event")},
		behave: func(attempt int, _ context.Context, _ ports.EventSink, running func()) error {
			return fail(attempt, running)
		}}
}

// recorder is a sink that keeps what it handles.
type recorder struct {
	mu     sync.Mutex
	events []event.Event
	delay  func() time.Duration // optional, per event
}

func (r *recorder) Handle(_ context.Context, e event.Event) {
	if r.delay != nil {
		time.Sleep(r.delay())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) got() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.events...)
}

// countingMetrics records what the router reports.
type countingMetrics struct {
	mu       sync.Mutex
	up       map[string]bool
	restarts map[string]int
}

func (m *countingMetrics) SourceUp(name string, up bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.up[name] = up
}

func (m *countingMetrics) SourceRestarted(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.restarts[name]++
}

func (m *countingMetrics) get(name string) (bool, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.up[name], m.restarts[name]
}

// eventually polls check until it passes or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %s: %v", timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newRegistry(t *testing.T, srcs ...ports.EventSource) *sources.Registry {
	t.Helper()
	reg := sources.NewRegistry()
	for _, s := range srcs {
		if err := reg.Register(s, true); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// runRouter runs r into sink until the test ends, and returns a function that stops it and
// waits for Run to return.
func runRouter(t *testing.T, r *sources.Router, sink ports.EventSink) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, sink) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestRouterIsolatesAFailingSource(t *testing.T) {
	tests := []struct {
		name      string
		fail      func(attempt int, running func()) error
		lastError string
	}{
		{"a source that panics is restarted and reported, and the others keep flowing",
			func(int, func()) error { panic("boom") }, "panic: boom"},
		{"a source that returns an error is restarted and reported, and the others keep flowing",
			func(attempt int, running func()) error {
				running()
				return fmt.Errorf("connection refused (attempt %d)", attempt)
			}, "connection refused"},
		{"a source that closes its channel (returns before shutdown) is restarted and reported, and the others keep flowing",
			func(int, func()) error { return nil }, sources.ErrWatchReturned.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := steady("good", "good-event")
			bad := failing("bad", tt.fail)
			metrics := &countingMetrics{up: map[string]bool{}, restarts: map[string]int{}}
			cfg := &sources.Config{GlobalSettings: sources.GlobalSettings{RetryAttempts: 3, RetryBackoff: time.Millisecond, WorkerCount: 2}}
			r, err := sources.NewRouter(context.Background(), newRegistry(t, good, bad), cfg, nil, metrics, testr.New(t))
			if err != nil {
				t.Fatal(err)
			}
			sink := &recorder{}
			stop := runRouter(t, r, sink)

			good.events <- event.Event{Type: "good-event", ResourceName: "before"}
			eventually(t, 10*time.Second, func() error {
				if s := stateOf(r, "bad"); s.Restarts < 3 || s.Phase != sources.Failed {
					return fmt.Errorf("bad source: %+v", s)
				}
				return nil
			})
			good.events <- event.Event{Type: "good-event", ResourceName: "after"}
			eventually(t, 10*time.Second, func() error {
				if got := names(sink.got()); got != "before,after" {
					return fmt.Errorf("sink got %s", got)
				}
				return nil
			})

			s := stateOf(r, "bad")
			if !strings.Contains(s.LastError, tt.lastError) || s.ConsecutiveFailures < 3 {
				t.Errorf("bad source state %+v, want last error containing %q and at least 3 consecutive failures", s, tt.lastError)
			}
			if g := stateOf(r, "good"); g.Phase != sources.Running || g.Restarts != 0 {
				t.Errorf("good source state %+v, want running without restarts", g)
			}
			// A source that fails after running is up for a moment each attempt: poll.
			eventually(t, 10*time.Second, func() error {
				if err := r.Ready(); err == nil || !strings.Contains(err.Error(), "bad is failed after") || strings.Contains(err.Error(), "good") {
					return fmt.Errorf("Ready() = %v, want it to name only the bad source and why", err)
				}
				if up, restarts := metrics.get("bad"); up || restarts < 3 {
					return fmt.Errorf("metrics for bad: up=%v restarts=%d, want down with at least 3 restarts", up, restarts)
				}
				return nil
			})
			if up, _ := metrics.get("good"); !up {
				t.Errorf("metrics say the good source is down")
			}

			stop()
			if good.stopped.Load() != 1 || bad.stopped.Load() != 1 {
				t.Errorf("Stop calls: good %d, bad %d; want one each", good.stopped.Load(), bad.stopped.Load())
			}
		})
	}
}

func stateOf(r *sources.Router, name string) sources.SourceState {
	for _, s := range r.States() {
		if s.Name == name {
			return s
		}
	}
	return sources.SourceState{}
}

func names(events []event.Event) string {
	var out []string
	for _, e := range events {
		out = append(out, e.ResourceName)
	}
	return strings.Join(out, ",")
}

func TestRouterRecoversAFailedSource(t *testing.T) {
	// Fails three times (failed after two), then runs.
	flaky := &fakeSource{name: "flaky", types: []event.Type{"flaky-event"}}
	flaky.behave = func(attempt int, ctx context.Context, _ ports.EventSink, running func()) error {
		if attempt <= 3 {
			return errors.New("not yet")
		}
		running()
		<-ctx.Done()
		return nil
	}
	cfg := &sources.Config{GlobalSettings: sources.GlobalSettings{RetryAttempts: 2, RetryBackoff: time.Millisecond}}
	r, err := sources.NewRouter(context.Background(), newRegistry(t, flaky), cfg, nil, nil, testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check(nil); err != nil {
		t.Errorf("a router that does not run (a standby replica) should be ready: %v", err)
	}
	runRouter(t, r, &recorder{})
	select {
	case <-r.Running():
	case <-time.After(10 * time.Second):
		t.Fatalf("Running() never closed: %+v", r.States())
	}
	eventually(t, 5*time.Second, func() error { return r.Ready() })
	if s := stateOf(r, "flaky"); s.Restarts != 3 || s.LastError != "not yet" {
		t.Errorf("state %+v, want 3 restarts and the last error kept", s)
	}
}

func TestRouterKeepsEachKeysOrderAcrossWorkers(t *testing.T) {
	src := steady("alerts", "alert-firing")
	cfg := &sources.Config{GlobalSettings: sources.GlobalSettings{WorkerCount: 8, BufferSize: 16}}
	r, err := sources.NewRouter(context.Background(), newRegistry(t, src), cfg, nil, nil, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	// A sink that takes a random while per event: without sharding by key, a resolution
	// would overtake its firing.
	sink := &recorder{delay: func() time.Duration { return time.Duration(rand.IntN(200)) * time.Microsecond }}
	runRouter(t, r, sink)
	const keys, rounds = 20, 10
	go func() {
		for round := range rounds {
			for k := range keys {
				e := event.Event{Type: "alert-firing", Namespace: "ns", ResourceName: fmt.Sprintf("r%d", k), Fingerprint: fmt.Sprintf("f%d", k),
					Message: fmt.Sprint(round)}
				src.events <- e
				e.Resolution = event.Recovered
				src.events <- e
			}
		}
	}()
	eventually(t, 20*time.Second, func() error {
		if n := len(sink.got()); n != keys*rounds*2 {
			return fmt.Errorf("%d events handled", n)
		}
		return nil
	})
	seq := map[event.Key][]string{}
	for _, e := range sink.got() {
		seq[e.Key()] = append(seq[e.Key()], e.Message+string(e.Resolution))
	}
	for k, got := range seq {
		var want []string
		for round := range rounds {
			want = append(want, fmt.Sprint(round), fmt.Sprint(round)+string(event.Recovered))
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("key %s handled as %v, want %v", k, got, want)
		}
	}
}

func TestRouterAppliesMappings(t *testing.T) {
	src := steady("alertmanager", "alert-firing")
	cfg := &sources.Config{Mappings: []sources.Mapping{
		{EventSource: "alertmanager", EventType: "pod-crash-alert", InternalType: "KubePodCrashLooping",
			Severity: "critical", Description: "A container keeps crashing", Tags: map[string]string{"team": "platform"}},
		{EventSource: "alertmanager", InternalType: "Watchdog", Severity: "none"},
	}}
	r, err := sources.NewRouter(context.Background(), newRegistry(t, src), cfg, nil, nil, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(r.EventTypes()); got != "[alert-firing pod-crash-alert]" {
		t.Errorf("EventTypes() = %s; a mapped type must become valid for Hooks", got)
	}
	sink := &recorder{}
	runRouter(t, r, sink)
	in := []event.Event{
		{Type: "alert-firing", SourceType: "KubePodCrashLooping", ResourceName: "a", Severity: "warning", Tags: map[string]string{"origin": "am"}},
		{Type: "alert-firing", SourceType: "KubePodCrashLooping", ResourceName: "a", Resolution: event.Recovered},
		{Type: "alert-firing", SourceType: "Watchdog", ResourceName: "b", Severity: "info"},
		{Type: "alert-firing", SourceType: "NodeDown", ResourceName: "c", Severity: "page"},
	}
	for _, e := range in {
		src.events <- e
	}
	eventually(t, 5*time.Second, func() error {
		if n := len(sink.got()); n != len(in) {
			return fmt.Errorf("%d events handled", n)
		}
		return nil
	})
	type seen struct {
		name, typ, severity, description, tags, source string
		resolution                                     event.Resolution
	}
	var got []seen
	for _, e := range sink.got() {
		got = append(got, seen{e.ResourceName, string(e.Type), e.Severity, e.Description, fmt.Sprint(e.Tags), e.Source, e.Resolution})
	}
	want := []seen{
		{"a", "pod-crash-alert", "critical", "A container keeps crashing", "map[origin:am team:platform]", "alertmanager", ""},
		{"a", "pod-crash-alert", "critical", "A container keeps crashing", "map[team:platform]", "alertmanager", event.Recovered},
		{"b", "alert-firing", "none", "", "map[]", "alertmanager", ""},
		{"c", "alert-firing", "page", "", "map[]", "alertmanager", ""},
	}
	// Keys differ, so workers may reorder them: compare as sets keyed by name and resolution.
	index := func(s []seen) map[string]seen {
		m := map[string]seen{}
		for _, x := range s {
			m[x.name+string(x.resolution)] = x
		}
		return m
	}
	if g, w := index(got), index(want); fmt.Sprint(g) != fmt.Sprint(w) {
		t.Errorf("got\n%+v\nwant\n%+v", g, w)
	}
}

func TestRouterDropsEventTypesASourceDoesNotProvide(t *testing.T) {
	src := steady("alerts", "alert-firing")
	r, err := sources.NewRouter(context.Background(), newRegistry(t, src), nil, nil, nil, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	sink := &recorder{}
	runRouter(t, r, sink)
	src.events <- event.Event{Type: "pod-restart", ResourceName: "undeclared"}
	src.events <- event.Event{Type: "alert-firing", ResourceName: "declared"}
	eventually(t, 5*time.Second, func() error {
		if got := names(sink.got()); got != "declared" {
			return fmt.Errorf("sink got %q", got)
		}
		return nil
	})
}

func TestRouterBoundsWhatAnySourceSends(t *testing.T) {
	src := steady("my-plugin", "site-down")
	r, err := sources.NewRouter(context.Background(), newRegistry(t, src), nil, nil, nil, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	sink := &recorder{}
	runRouter(t, r, sink)
	huge := map[string]string{}
	for i := range 10000 {
		huge[fmt.Sprintf("k%05d", i)] = strings.Repeat("v", 2000)
	}
	src.events <- event.Event{Type: "site-down", ResourceName: "shop", Message: strings.Repeat("m", 1<<20), Metadata: huge, Tags: huge}
	eventually(t, 5*time.Second, func() error {
		if n := len(sink.got()); n != 1 {
			return fmt.Errorf("%d events handled", n)
		}
		return nil
	})
	if e := sink.got()[0]; !e.Fits() || len(e.Message) != event.MaxMessageBytes || len(e.Metadata) == 0 {
		t.Fatalf("handed on a message of %d bytes and %d metadata: want them within event's bounds", len(e.Message), len(e.Metadata))
	}
}

// plugins is a PluginLoader that hands out prepared sources.
type plugins map[string]ports.EventSource

func (p plugins) Load(name, path string) (ports.EventSource, error) {
	if s, ok := p[path]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("plugin %s: no such file", path)
}

func TestNewRouterChoosesTheEnabledSources(t *testing.T) {
	no := false
	tests := []struct {
		name  string
		cfg   *sources.Config
		want  string // enabled sources, in order
		types string
	}{
		{"without configuration the sources enabled by default run", nil, "kubernetes", "[pod-restart]"},
		{"listing a source enables it", &sources.Config{EventSources: []sources.SourceConfig{{Name: "prometheus"}}},
			"kubernetes,prometheus", "[pod-restart prometheus-alert]"},
		{"a default source can be disabled", &sources.Config{EventSources: []sources.SourceConfig{{Name: "kubernetes", Enabled: &no}, {Name: "prometheus"}}},
			"prometheus", "[prometheus-alert]"},
		{"a plugin is loaded from the plugin directory by its name", &sources.Config{PluginDirectory: "/plugins", EventSources: []sources.SourceConfig{{Name: "probe"}}},
			"kubernetes,probe", "[endpoint-down pod-restart]"},
		{"a disabled plugin is not even loaded", &sources.Config{EventSources: []sources.SourceConfig{{Name: "ghost", Enabled: &no}}},
			"kubernetes", "[pod-restart]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := sources.NewRegistry()
			must(t, reg.Register(steady("kubernetes", "pod-restart"), true))
			must(t, reg.Register(steady("prometheus", "prometheus-alert"), false))
			loader := plugins{"/plugins/probe.so": steady("probe", "endpoint-down")}
			r, err := sources.NewRouter(context.Background(), reg, tt.cfg, loader, nil, logr.Discard())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range r.States() {
				got = append(got, s.Name)
			}
			if strings.Join(got, ",") != tt.want {
				t.Errorf("enabled %v, want %s", got, tt.want)
			}
			if types := fmt.Sprint(r.EventTypes()); types != tt.types {
				t.Errorf("EventTypes() = %s, want %s", types, tt.types)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestNewRouterRefusesConflictsAndUnknowns(t *testing.T) {
	tests := []struct {
		name   string
		config string
		maps   string
		want   string
	}{
		{"an event type claimed by two sources names both",
			"eventSources:\n  - name: prometheus\n    settings:\n      eventType: alert-firing\n  - name: alertmanager\n", "",
			`event-watcher-config.yaml:2: eventSources[0]: source "prometheus": event type "alert-firing" is provided by both source "alertmanager" and source "prometheus"`},
		{"a plugin claiming an already provided type names both, and the plugin's file",
			"pluginDirectory: /plugins\neventSources:\n  - name: restarts\n", "",
			`event-watcher-config.yaml:3: eventSources[0]: source "restarts" (plugin /plugins/restarts.so): event type "pod-restart" is provided by both source "kubernetes" and source "restarts" (plugin /plugins/restarts.so)`},
		{"a mapping onto another source's type names both",
			"mappingFile: m.yaml\neventSources:\n  - name: alertmanager\n",
			"mappings:\n  - eventSource: alertmanager\n    eventType: pod-restart\n    internalType: KubePodCrashLooping\n",
			`m.yaml:3: mappings[0].eventType: source "alertmanager": event type "pod-restart" is provided by both source "kubernetes" and source "alertmanager"`},
		{"a mapping for a source one typo from a known one is refused with the likely name",
			"mappingFile: m.yaml\n", "mappings:\n  - eventSource: alertmanger\n    internalType: X\n",
			`m.yaml:2: mappings[0].eventSource: no source is named "alertmanger"; did you mean "alertmanager"? (known: alertmanager, kubernetes, prometheus; a mapping for a source khook does not run is kept and never applies, but this name is a typo's distance from "alertmanager")`},
		{"a mapping naming no kind of a source that declares all its names is refused",
			"mappingFile: m.yaml\n", "mappings:\n  - eventSource: kubernetes\n    internalType: PodRestarts\n",
			`m.yaml:3: mappings[0].internalType: source "kubernetes" has no event named "PodRestarts" (its names: PodRestart; or its event types: pod-restart)`},
		{"a Kubernetes mapping in the old spelling is told what to swap",
			"mappingFile: m.yaml\n", "mappings:\n  - eventSource: kubernetes\n    eventType: pod-restart\n    internalType: restart-trouble\n",
			`m.yaml:4: mappings[0].internalType: source "kubernetes" has no event named "restart-trouble" (its names: PodRestart; or its event types: pod-restart), and eventType "pod-restart" is one of them: ` +
				`this looks like the old spelling: swap eventType and internalType (eventType is the type Hooks use, internalType the source's own name)`},
		{"two mappings of one kind, by its name and by its type, are refused",
			"mappingFile: m.yaml\n", "mappings:\n  - eventSource: kubernetes\n    internalType: PodRestart\n  - eventSource: kubernetes\n    internalType: pod-restart\n",
			`m.yaml:5: mappings[1].internalType: source "kubernetes": "pod-restart" and "PodRestart" (at line 2) both name its pod-restart events: keep one mapping`},
		{"an unknown source without a plugin directory is refused",
			"eventSources:\n  - name: alertmanger\n", "",
			`event-watcher-config.yaml:2: eventSources[0].name: no source is named "alertmanger" (built in: kubernetes, alertmanager, prometheus), and neither pluginPath nor pluginDirectory says where to load it from as a plugin`},
		{"a plugin that cannot be loaded is refused with the loader's reason",
			"pluginDirectory: /plugins\neventSources:\n  - name: ghost\n", "",
			`event-watcher-config.yaml:3: eventSources[0]: plugin /plugins/ghost.so: no such file`},
		{"a bad setting is refused with the source's entry",
			"eventSources:\n  - name: prometheus\n    settings:\n      eventType: 7\n", "",
			`event-watcher-config.yaml:2: eventSources[0]: source "prometheus": initialising: setting "eventType": want a string, got 7 (int)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"event-watcher-config.yaml": tt.config}
			if tt.maps != "" {
				files["m.yaml"] = tt.maps
			}
			dir := writeFiles(t, files)
			cfg, err := sources.LoadConfig(dir+"/event-watcher-config.yaml", nil)
			if err != nil {
				t.Fatal(err)
			}
			kube := steady("kubernetes", "pod-restart")
			kube.internal = []ports.InternalType{{Name: "PodRestart", Type: "pod-restart"}}
			reg := sources.NewRegistry()
			must(t, reg.Register(kube, true))
			must(t, reg.Register(typedSource("alertmanager", "alert-firing"), false))
			must(t, reg.Register(typedSource("prometheus", "prometheus-alert"), false))
			loader := plugins{"/plugins/restarts.so": steady("restarts", "pod-restart")}
			_, err = sources.NewRouter(context.Background(), reg, cfg, loader, nil, logr.Discard())
			if err == nil {
				t.Fatal("no error")
			}
			if got := strings.ReplaceAll(err.Error(), dir+"/", ""); got != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s", got, tt.want)
			}
			if kube.stopped.Load() != kube.inits.Load() {
				t.Errorf("a source initialised %d times before the refusal was stopped %d times", kube.inits.Load(), kube.stopped.Load())
			}
		})
	}
}

// typedSource is a steady source whose event type a setting "eventType" may change, as the
// Prometheus source's does.
func typedSource(name string, def event.Type) *settingTyped {
	return &settingTyped{fakeSource: steady(name, def)}
}

type settingTyped struct{ *fakeSource }

func (s *settingTyped) Init(ctx context.Context, settings ports.Settings) error {
	if v, ok := settings["eventType"]; ok {
		str, isString := v.(string)
		if !isString {
			return fmt.Errorf("setting %q: want a string, got %v (%T)", "eventType", v, v)
		}
		s.types = []event.Type{event.Type(str)}
	}
	return s.fakeSource.Init(ctx, settings)
}

// A mapping names an event by its own name (an alert's name), by a kind the source declares
// (PrometheusAlert: all its alerts), or by one of the source's event types. A named event
// takes its name's mapping over its kind's: what the name's mapping leaves empty comes from the
// kind's, and tags are joined.
func TestRouterAppliesMappingsOfKindsAndOfNames(t *testing.T) {
	prom := steady("prometheus", "prometheus-alert")
	prom.internal, prom.named = []ports.InternalType{{Name: "PrometheusAlert", Type: "prometheus-alert"}}, true
	probe := steady("probe", "endpoint-down") // declares no internal types: its event types name its kinds
	cfg := &sources.Config{Mappings: []sources.Mapping{
		{EventSource: "prometheus", EventType: "alert-firing", InternalType: "PrometheusAlert", Severity: "warning",
			Description: "Prometheus alert triggered", Tags: map[string]string{"team": "sre", "via": "prometheus"}},
		{EventSource: "prometheus", EventType: "pod-crash-alert", InternalType: "KubePodCrashLooping", Severity: "critical", Tags: map[string]string{"team": "platform"}},
		{EventSource: "prometheus", InternalType: "Watchdog", Severity: "none"},
		{EventSource: "probe", InternalType: "endpoint-down", Tags: map[string]string{"team": "web"}},
	}}
	r, err := sources.NewRouter(context.Background(), newRegistry(t, prom, probe), cfg, nil, nil, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(r.EventTypes()); got != "[alert-firing endpoint-down pod-crash-alert prometheus-alert]" {
		t.Errorf("EventTypes() = %s", got)
	}
	sink := &recorder{}
	runRouter(t, r, sink)
	prom.events <- event.Event{Type: "prometheus-alert", SourceType: "HighLatency", ResourceName: "unnamed", Severity: "page"}
	prom.events <- event.Event{Type: "prometheus-alert", SourceType: "KubePodCrashLooping", ResourceName: "crash"}
	prom.events <- event.Event{Type: "prometheus-alert", SourceType: "Watchdog", ResourceName: "watchdog"}
	probe.events <- event.Event{Type: "endpoint-down", ResourceName: "probe"}
	eventually(t, 5*time.Second, func() error {
		if n := len(sink.got()); n != 4 {
			return fmt.Errorf("%d events handled", n)
		}
		return nil
	})
	got := map[string]string{}
	for _, e := range sink.got() {
		got[e.ResourceName] = fmt.Sprintf("%s %s %q %v", e.Type, e.Severity, e.Description, e.Tags)
	}
	want := map[string]string{
		"unnamed":  `alert-firing warning "Prometheus alert triggered" map[team:sre via:prometheus]`,
		"crash":    `pod-crash-alert critical "Prometheus alert triggered" map[team:platform via:prometheus]`,
		"watchdog": `alert-firing none "Prometheus alert triggered" map[team:sre via:prometheus]`,
		"probe":    `endpoint-down  "" map[team:web]`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

// A source's settings may narrow what it reports (the Kubernetes source's eventTypes): a
// mapping of a kind it knows but does not report is kept, never applies, and makes no type
// valid for Hooks.
func TestAMappingOfAKindTheSourceDoesNotReportNeverApplies(t *testing.T) {
	kube := steady("kubernetes", event.PodRestart)
	kube.internal = []ports.InternalType{{Name: "PodRestart", Type: event.PodRestart}, {Name: "PodPending", Type: event.PodPending}}
	cfg := &sources.Config{Mappings: []sources.Mapping{
		{EventSource: "kubernetes", EventType: "stuck-pod", InternalType: "PodPending", Severity: "error"},
	}}
	r, err := sources.NewRouter(context.Background(), newRegistry(t, kube), cfg, nil, nil, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(r.EventTypes()); got != "[pod-restart]" {
		t.Errorf("EventTypes() = %s, want [pod-restart]", got)
	}
}

// The design's file gives the built-in sources a pluginPath: the built-in source runs, and no
// plugin is loaded.
func TestABuiltInSourceRunsWhateverItsPluginPathSays(t *testing.T) {
	no := false
	kube, prom := steady("kubernetes", "pod-restart"), steady("prometheus", "prometheus-alert")
	reg := sources.NewRegistry()
	must(t, reg.Register(kube, true))
	must(t, reg.Register(prom, false))
	cfg := &sources.Config{EventSources: []sources.SourceConfig{
		{Name: "kubernetes", PluginPath: "/opt/khook/plugins/kubernetes.so"},
		{Name: "prometheus", PluginPath: "/opt/khook/plugins/prometheus.so", Enabled: &no},
	}}
	r, err := sources.NewRouter(context.Background(), reg, cfg, plugins{}, nil, logr.Discard())
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	if s := r.States(); len(s) != 1 || s[0].Name != "kubernetes" || s[0].Origin != "registered" {
		t.Errorf("states %+v, want the built-in kubernetes source alone", s)
	}
	if kube.inits.Load() != 1 {
		t.Errorf("the built-in source was initialised %d times, want once", kube.inits.Load())
	}
}

// What a source declares of its own names is checked like the rest of its Info.
func TestNewRouterRefusesMalformedInternalTypes(t *testing.T) {
	tests := []struct {
		name     string
		internal []ports.InternalType
		want     string
	}{
		{"an empty name", []ports.InternalType{{Name: "", Type: "x-event"}}, `source "x": internal type "": a name is 1 to 256 bytes`},
		{"a name declared twice", []ports.InternalType{{Name: "X", Type: "x-event"}, {Name: "X", Type: "x-event"}}, `source "x": internal type "X" is declared twice`},
		{"a malformed type", []ports.InternalType{{Name: "X", Type: "X_Event"}}, `source "x": internal type "X": event type "X_Event" is not lower-case words joined by dashes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := steady("x", "x-event")
			src.internal = tt.internal
			_, err := sources.NewRouter(context.Background(), newRegistry(t, src), nil, nil, nil, logr.Discard())
			if err == nil || err.Error() != tt.want {
				t.Errorf("NewRouter: %v\nwant %s", err, tt.want)
			}
		})
	}
}
