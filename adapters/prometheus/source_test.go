package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/khook-dev/khook/adapters/prometheus"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

type recorder struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *recorder) Handle(_ context.Context, e event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) got() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.events...)
}

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
		time.Sleep(20 * time.Millisecond)
	}
}

// watching is a Watch under way; done is closed when it returned err.
type watching struct {
	cancel  context.CancelFunc
	done    chan struct{}
	err     error
	running chan struct{}
}

func watch(t *testing.T, src *prometheus.Source, sink ports.EventSink) *watching {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watching{cancel: cancel, done: make(chan struct{}), running: make(chan struct{})}
	var once sync.Once
	go func() {
		w.err = src.Watch(ctx, sink, func() { once.Do(func() { close(w.running) }) })
		close(w.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(10 * time.Second):
			t.Error("Watch did not return after its context ended")
		}
	})
	return w
}

// waitRunning waits until the Watch says it runs.
func (w *watching) waitRunning(t *testing.T) {
	t.Helper()
	select {
	case <-w.running:
	case <-w.done:
		t.Fatalf("Watch returned before it ran: %v", w.err)
	case <-time.After(10 * time.Second):
		t.Fatal("the source did not say it runs")
	}
}

func newSource(t *testing.T, settings ports.Settings) *prometheus.Source {
	t.Helper()
	src := prometheus.New(testr.New(t))
	if err := src.Init(context.Background(), settings); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return src
}

// alertsAPI answers /api/v1/alerts with whatever body holds.
type alertsAPI struct {
	*httptest.Server
	body   atomic.Value // string
	status atomic.Int64
	polls  atomic.Int64
}

func startAPI(t *testing.T, body string) *alertsAPI {
	a := &alertsAPI{}
	a.body.Store(body)
	a.status.Store(http.StatusOK)
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/prom/api/v1/alerts" {
			http.NotFound(w, r)
			return
		}
		a.polls.Add(1)
		w.WriteHeader(int(a.status.Load()))
		fmt.Fprint(w, a.body.Load().(string))
	}))
	t.Cleanup(a.Close)
	return a
}

func alerts(items ...string) string {
	return `{"status":"success","data":{"alerts":[` + strings.Join(items, ",") + `]}}`
}

func alertJSON(name, state string) string {
	return fmt.Sprintf(`{"labels":{"alertname":%q,"namespace":"shop","severity":"warning"},"annotations":{"summary":"%s is %s"},
		"state":%q,"activeAt":"2026-08-01T10:00:00Z","value":"1e+00"}`, name, name, state, state)
}

func TestPollerReportsFiringAlertsAndResolvesDisappearedOnes(t *testing.T) {
	api := startAPI(t, alerts(alertJSON("HighLatency", "firing"), alertJSON("DiskFilling", "pending")))
	src := newSource(t, ports.Settings{"endpoint": api.URL + "/prom/", "interval": "20ms", "timeout": "10s"})
	sink := &recorder{}
	w := watch(t, src, sink)
	w.waitRunning(t)

	eventually(t, 10*time.Second, func() error {
		for _, e := range sink.got() {
			if e.SourceType == "DiskFilling" {
				return fmt.Errorf("a pending alert became an event: %+v", e)
			}
		}
		if len(sink.got()) < 2 {
			return errors.New("fewer than two polls delivered")
		}
		return nil
	})
	first := sink.got()[0]
	if first.Type != "prometheus-alert" || first.SourceType != "HighLatency" || first.Namespace != "shop" || first.ResourceName != "HighLatency" ||
		first.Message != "HighLatency is firing" || first.Fingerprint == "" || first.Source != "prometheus" || first.Resolves() ||
		first.Timestamp != time.Date(2026, 8, 1, 10, 0, 0, 0, time.UTC) {
		t.Errorf("firing event %+v", first)
	}

	api.body.Store(alerts())
	eventually(t, 10*time.Second, func() error {
		for _, e := range sink.got() {
			if e.Resolves() {
				if e.Key() != first.Key() || e.Resolution != event.Recovered {
					return fmt.Errorf("resolution %+v does not end %s", e, first.Key())
				}
				return nil
			}
		}
		return errors.New("no resolution yet")
	})
	n := len(sink.got())
	polls := api.polls.Load()
	eventually(t, 10*time.Second, func() error {
		if api.polls.Load() < polls+3 {
			return errors.New("polling slower than expected")
		}
		return nil
	})
	if len(sink.got()) != n {
		t.Errorf("a resolved alert was resolved again: %d events after %d", len(sink.got()), n)
	}
}

// An alert that resolves and goes pending again between two polls comes back with the activeAt
// of its new start. Its resolution must be dated before that start (at the poll that last saw it
// firing), or the dedup takes the new firing for an old one and ignores it for a window.
func TestAnAlertThatResolvesAndFiresAgainStartsAfterItsResolution(t *testing.T) {
	api := startAPI(t, alerts(alertJSON("HighLatency", "firing")))
	src := newSource(t, ports.Settings{"endpoint": api.URL + "/prom/", "interval": "20ms", "timeout": "10s"})
	sink := &recorder{}
	w := watch(t, src, sink)
	w.waitRunning(t)

	eventually(t, 10*time.Second, func() error {
		if len(sink.got()) == 0 {
			return errors.New("not firing yet")
		}
		return nil
	})
	again := time.Now().UTC().Round(0) // it resolves and goes pending again now, between two polls
	pending := strings.Replace(alertJSON("HighLatency", "pending"), "2026-08-01T10:00:00Z", again.Format(time.RFC3339Nano), 1)
	api.body.Store(alerts(pending))
	var resolved event.Event
	eventually(t, 10*time.Second, func() error {
		for _, e := range sink.got() {
			if e.Resolves() {
				resolved = e
				return nil
			}
		}
		return errors.New("no resolution yet")
	})
	api.body.Store(alerts(strings.Replace(pending, `"state":"pending"`, `"state":"firing"`, 1)))
	eventually(t, 10*time.Second, func() error {
		got := sink.got()
		if last := got[len(got)-1]; last.Resolves() || !last.Timestamp.Equal(again) {
			return errors.New("not firing again yet")
		}
		return nil
	})
	if !again.After(resolved.Timestamp) {
		t.Fatalf("the resolution is dated %s, not before the new start %s: the dedup would ignore the new firing",
			resolved.Timestamp.Format(time.RFC3339Nano), again.Format(time.RFC3339Nano))
	}
}

func TestThePollerPutsTheAlertsValueInItsMetadata(t *testing.T) {
	tests := []struct {
		name  string
		alert string
		want  string // Metadata["value"]; "" means absent
	}{
		{"the alert's value is the event's metadata value",
			`{"labels":{"alertname":"HighLatency"},"annotations":{},"state":"firing","value":"2.5e-01"}`, "2.5e-01"},
		{"an alert without a value adds none",
			`{"labels":{"alertname":"HighLatency"},"annotations":{},"state":"firing"}`, ""},
		{"an annotation named value keeps its place",
			`{"labels":{"alertname":"HighLatency"},"annotations":{"value":"250ms"},"state":"firing","value":"2.5e-01"}`, "250ms"},
		{"a label named value keeps its place",
			`{"labels":{"alertname":"HighLatency","value":"p99"},"annotations":{},"state":"firing","value":"2.5e-01"}`, "p99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := startAPI(t, alerts(tt.alert))
			src := newSource(t, ports.Settings{"endpoint": api.URL + "/prom", "interval": "1h"})
			sink := &recorder{}
			watch(t, src, sink).waitRunning(t)
			got := sink.got()
			if len(got) != 1 {
				t.Fatalf("%d events after the first poll, want 1", len(got))
			}
			v, present := got[0].Metadata["value"]
			if tt.want == "" && present {
				t.Errorf("metadata value = %q, want none", v)
			}
			if tt.want != "" && v != tt.want {
				t.Errorf("metadata value = %q (present: %v), want %q; metadata %v", v, present, tt.want, got[0].Metadata)
			}
		})
	}
}

func TestPollerFailsWhenPrometheusDoesNotAnswerAndResolvesAfterARestart(t *testing.T) {
	api := startAPI(t, alerts(alertJSON("HighLatency", "firing")))
	src := newSource(t, ports.Settings{"endpoint": api.URL + "/prom", "interval": "20ms", "timeout": "10s"})
	sink := &recorder{}
	w := watch(t, src, sink)
	w.waitRunning(t)

	api.status.Store(http.StatusServiceUnavailable)
	api.body.Store(`{"status":"error","errorType":"unavailable","error":"tsdb not ready"}`)
	select {
	case <-w.done:
		err := w.err
		want := fmt.Sprintf("polling %s/prom/api/v1/alerts: HTTP 503: unavailable: tsdb not ready", api.URL)
		if err == nil || err.Error() != want {
			t.Errorf("Watch: %v, want %s", err, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not fail while Prometheus answered 503")
	}

	// The alert ends while the source is down; the restarted Watch still resolves it.
	api.status.Store(http.StatusOK)
	api.body.Store(alerts())
	w2 := watch(t, src, sink)
	w2.waitRunning(t)
	eventually(t, 10*time.Second, func() error {
		for _, e := range sink.got() {
			if e.Resolves() && e.SourceType == "HighLatency" {
				return nil
			}
		}
		return errors.New("no resolution after the restart")
	})
}

func TestPollerNamesWhatIsWrongWithAnAnswer(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"a page that is not the API", 200, "<html>login</html>", "the answer is not Prometheus' alerts API: invalid character '<' looking for beginning of value"},
		{"an error status without an API error", 502, "bad gateway", "HTTP 502: bad gateway"},
		{"an API error with HTTP 200", 200, `{"status":"error","errorType":"internal","error":"boom"}`, `status "error": internal: boom`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := startAPI(t, tt.body)
			api.status.Store(int64(tt.status))
			src := newSource(t, ports.Settings{"endpoint": api.URL + "/prom"})
			w := watch(t, src, &recorder{})
			select {
			case <-w.done:
				err := w.err
				want := fmt.Sprintf("polling %s/prom/api/v1/alerts: %s", api.URL, tt.want)
				if err == nil || err.Error() != want {
					t.Errorf("Watch: %v\nwant %s", err, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Watch did not fail")
			}
		})
	}
}

func TestInitReadsSettings(t *testing.T) {
	tests := []struct {
		name     string
		settings ports.Settings
		wantErr  string
		wantType event.Type
	}{
		{"the endpoint is required", nil, `setting "endpoint": is required`, ""},
		{"the endpoint must be an http URL", ports.Settings{"endpoint": "prometheus:9090"}, `setting "endpoint": "prometheus:9090" is not an http(s) URL`, ""},
		{"a bad interval is named", ports.Settings{"endpoint": "http://p:9090", "interval": "often"},
			`setting "interval": "often" is not a duration (e.g. 500ms, 30s, 1m)`, ""},
		{"the default event type differs from Alertmanager's", ports.Settings{"endpoint": "http://p:9090"}, "", "prometheus-alert"},
		{"the event type may be chosen", ports.Settings{"endpoint": "http://p:9090", "eventType": "slo-burn"}, "", "slo-burn"},
		{"the design's settings load", ports.Settings{"endpoint": "http://prometheus.example.com:9093", "interval": "30s",
			"alertLabels": []any{map[string]any{"severity": "critical"}, map[string]any{"team": "platform"}}}, "", "prometheus-alert"},
		{"alertLabels must be a list", ports.Settings{"endpoint": "http://p:9090", "alertLabels": map[string]any{"severity": "critical"}},
			`setting "alertLabels": want a list, got a map`, ""},
		{"an empty alertLabels is refused rather than taking nothing", ports.Settings{"endpoint": "http://p:9090", "alertLabels": []any{}},
			`setting "alertLabels": lists 0 label sets: list 1 to 100, or leave the setting out to take every alert`, ""},
		{"an alertLabels item must be a map", ports.Settings{"endpoint": "http://p:9090", "alertLabels": []any{"severity=critical"}},
			`setting "alertLabels": item 0: want a map of 1 to 20 labels to their values, such as {severity: critical}, got severity=critical`, ""},
		{"a label value must be a string", ports.Settings{"endpoint": "http://p:9090", "alertLabels": []any{map[string]any{"code": 500}}},
			`setting "alertLabels": item 0: label "code": want a string value (quote numbers: "500"), got 500 (int)`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := prometheus.New(testr.New(t))
			err := src.Init(context.Background(), tt.settings)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("Init: %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info := src.Info()
			if got := info.EventTypes; len(got) != 1 || got[0] != tt.wantType {
				t.Errorf("event types %v, want [%s]", got, tt.wantType)
			}
			if k := info.InternalTypes; len(k) != 1 || k[0] != (ports.InternalType{Name: "PrometheusAlert", Type: tt.wantType}) || !info.NamedEvents {
				t.Errorf("internal types %v (named events %v), want PrometheusAlert as %s, and named events", k, info.NamedEvents, tt.wantType)
			}
		})
	}
}

// The design's alertLabels: [{severity: critical}, {team: platform}] takes an alert that has
// any of the listed label values; a set of several labels needs them all.
func TestAlertLabelsTakeAnAlertWithEveryLabelOfOneSet(t *testing.T) {
	alert := func(name, labels string) string {
		return fmt.Sprintf(`{"labels":{"alertname":%q%s},"annotations":{},"state":"firing"}`, name, labels)
	}
	api := startAPI(t, alerts(
		alert("Critical", `,"severity":"critical"`),
		alert("PlatformWarning", `,"severity":"warning","team":"platform"`),
		alert("ShopWarning", `,"severity":"warning","team":"shop"`),
		alert("ShopPage", `,"severity":"page","team":"shop","tier":"1"`),
		alert("Unlabelled", ""),
	))
	src := newSource(t, ports.Settings{"endpoint": api.URL + "/prom", "interval": "1h", "alertLabels": []any{
		map[string]any{"severity": "critical"}, map[string]any{"team": "platform"}, map[string]any{"team": "shop", "tier": "1"}}})
	sink := &recorder{}
	watch(t, src, sink).waitRunning(t)
	var got []string
	for _, e := range sink.got() {
		got = append(got, e.SourceType)
	}
	slices.Sort(got)
	if want := []string{"Critical", "PlatformWarning", "ShopPage"}; !slices.Equal(got, want) {
		t.Errorf("taken %v, want %v", got, want)
	}
}
