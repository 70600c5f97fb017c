package alertmanager_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/khook-dev/khook/adapters/alertmanager"
	"github.com/khook-dev/khook/adapters/metrics"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

// recorder is a sink that keeps what it takes; a blocked recorder takes nothing and waits for
// its context.
type recorder struct {
	mu      sync.Mutex
	events  []event.Event
	blocked atomic.Bool
}

func (r *recorder) Handle(ctx context.Context, e event.Event) {
	if r.blocked.Load() {
		<-ctx.Done()
		return
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

// refusals counts the refusals the source reports.
type refusals struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *refusals) WebhookRefused(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[reason]++
}

func (r *refusals) count(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[reason]
}

// served is a source running on a free loopback port.
type served struct {
	src     *alertmanager.Source
	url     string // of the webhook
	addr    string // host:port
	refused *refusals
}

// startSource runs the source on a free loopback port until the test ends and returns its
// webhook URL.
func startSource(t *testing.T, settings ports.Settings, sink ports.EventSink, tune ...func(*alertmanager.Source)) string {
	t.Helper()
	return start(t, settings, sink, tune...).url
}

// start runs the source on a free loopback port until the test ends.
func start(t *testing.T, settings ports.Settings, sink ports.EventSink, tune ...func(*alertmanager.Source)) *served {
	t.Helper()
	if settings == nil {
		settings = ports.Settings{}
	}
	settings["listenAddress"] = "127.0.0.1:0"
	refused := &refusals{}
	src := alertmanager.New(testr.New(t), refused)
	for _, f := range tune {
		f(src)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := src.Init(ctx, settings); err != nil {
		t.Fatalf("Init: %v", err)
	}
	done := make(chan error, 1)
	running := make(chan struct{})
	go func() { done <- src.Watch(ctx, sink, func() { close(running) }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Watch did not return after its context ended")
		}
	})
	select {
	case <-running:
	case err := <-done:
		t.Fatalf("Watch returned before running: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the source did not say it runs")
	}
	addr, err := src.Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &served{src: src, url: "http://" + addr.String() + alertmanager.WebhookPath, addr: addr.String(), refused: refused}
}

func post(t *testing.T, url, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("posting: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// payload is a version-4 webhook body with the given alerts (JSON objects).
func payload(alerts ...string) string {
	return `{"version":"4","groupKey":"{}:{alertname=\"X\"}","status":"firing","receiver":"khook",
		"groupLabels":{"alertname":"X"},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093",
		"alerts":[` + strings.Join(alerts, ",") + `]}`
}

func firingAlert(fp, startsAt string) string {
	return fmt.Sprintf(`{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"shop","pod":"api-0","severity":"warning"},
		"annotations":{"summary":"api-0 keeps crashing"},"startsAt":%q,"endsAt":"0001-01-01T00:00:00Z","fingerprint":%q}`, startsAt, fp)
}

func resolvedAlert(fp, startsAt, endsAt string) string {
	return fmt.Sprintf(`{"status":"resolved","labels":{"alertname":"KubePodCrashLooping","namespace":"shop","pod":"api-0","severity":"warning"},
		"annotations":{"summary":"api-0 keeps crashing"},"startsAt":%q,"endsAt":%q,"fingerprint":%q}`, startsAt, endsAt, fp)
}

// brief describes an event by what the tests check.
func brief(e event.Event) string {
	s := fmt.Sprintf("%s %s/%s@%s %s %q sev=%s at=%s", e.Type, e.Namespace, e.ResourceName, e.Fingerprint, e.SourceType, e.Message, e.Severity, e.Timestamp.UTC().Format(time.RFC3339))
	if e.Resolution != "" {
		s += " " + string(e.Resolution)
	}
	return s
}

func TestWebhook(t *testing.T) {
	const t0, t1, t2 = "2026-08-01T10:00:00Z", "2026-08-01T10:05:00Z", "2026-08-01T11:00:00Z"
	tests := []struct {
		name     string
		settings ports.Settings
		bodies   []string
		header   []string
		wantCode int
		wantBody string
		want     []string
		// wantRefused is the reason the refusal is counted under.
		wantRefused string
	}{
		{name: "a firing alert becomes an event keyed by its fingerprint",
			bodies: []string{payload(firingAlert("fp1", t0))}, wantCode: 200,
			want: []string{`alert-firing shop/api-0@fp1 KubePodCrashLooping "api-0 keeps crashing" sev=warning at=2026-08-01T10:00:00Z`}},
		{name: "a resolved alert resolves its event at once",
			bodies: []string{payload(firingAlert("fp1", t0)), payload(resolvedAlert("fp1", t0, t1))}, wantCode: 200,
			want: []string{
				`alert-firing shop/api-0@fp1 KubePodCrashLooping "api-0 keeps crashing" sev=warning at=2026-08-01T10:00:00Z`,
				`alert-firing shop/api-0@fp1 KubePodCrashLooping "api-0 keeps crashing" sev=warning at=2026-08-01T10:05:00Z recovered`,
			}},
		{name: "a repeat of a firing alert is delivered again for dedup to absorb",
			bodies: []string{payload(firingAlert("fp1", t0)), payload(firingAlert("fp1", t0))}, wantCode: 200,
			want: []string{
				`alert-firing shop/api-0@fp1 KubePodCrashLooping "api-0 keeps crashing" sev=warning at=2026-08-01T10:00:00Z`,
				`alert-firing shop/api-0@fp1 KubePodCrashLooping "api-0 keeps crashing" sev=warning at=2026-08-01T10:00:00Z`,
			}},
		{name: "an alert that started again without a resolution ends its previous firing first",
			bodies: []string{payload(firingAlert("fp1", t0)), payload(firingAlert("fp1", t2))}, wantCode: 200,
			want: []string{
				`alert-firing shop/api-0@fp1 KubePodCrashLooping "api-0 keeps crashing" sev=warning at=2026-08-01T10:00:00Z`,
				`alert-firing shop/api-0@fp1 KubePodCrashLooping "api-0 keeps crashing" sev=warning at=2026-08-01T11:00:00Z recovered`,
				`alert-firing shop/api-0@fp1 KubePodCrashLooping "api-0 keeps crashing" sev=warning at=2026-08-01T11:00:00Z`,
			}},
		{name: "the eventType setting changes the type",
			settings: ports.Settings{"eventType": "am-alert"},
			bodies:   []string{payload(firingAlert("fp1", t0))}, wantCode: 200,
			want: []string{`am-alert shop/api-0@fp1 KubePodCrashLooping "api-0 keeps crashing" sev=warning at=2026-08-01T10:00:00Z`}},
		{name: "a malformed body is refused with the reason",
			bodies: []string{`{"version":"4","alerts":[`}, wantCode: 400, wantBody: "malformed webhook payload: unexpected end of JSON input", wantRefused: "malformed"},
		{name: "another payload version is refused",
			bodies: []string{`{"version":"3","alerts":[]}`}, wantCode: 400, wantBody: `malformed webhook payload: version "3" is not supported (want "4")`},
		{name: "an alert of unknown status is refused, naming it",
			bodies:   []string{payload(strings.Replace(firingAlert("fp1", t0), `"status":"firing"`, `"status":"pending"`, 1))},
			wantCode: 400, wantBody: `malformed webhook payload: alerts[0].status "pending" is neither firing nor resolved`},
		{name: "a body over the limit is refused",
			settings: ports.Settings{"maxBodyBytes": 1024},
			bodies:   []string{payload(firingAlert("fp1", t0), firingAlert("fp2", t0), firingAlert("fp3", t0), firingAlert("fp4", t0))},
			wantCode: 413, wantBody: "body larger than 1024 bytes (setting maxBodyBytes)", wantRefused: "body-too-large"},
		{name: "without the bearer token the request is refused",
			settings: settingsOf("bearerToken", "s3cret"),
			bodies:   []string{payload(firingAlert("fp1", t0))}, header: []string{"Authorization", "Bearer wrong"},
			wantCode: 401, wantBody: "missing or wrong bearer token", wantRefused: "unauthorized"},
		{name: "a post of more alerts than maxAlertsPerPost is refused, naming the setting and Alertmanager's max_alerts",
			settings: ports.Settings{"maxAlertsPerPost": 2},
			bodies:   []string{payload(firingAlert("fp1", t0), firingAlert("fp2", t0), firingAlert("fp3", t0))}, wantCode: 413,
			wantBody:    "3 alerts in one post; khook takes at most 2 (setting maxAlertsPerPost): set max_alerts: 2 in Alertmanager's webhook_config",
			wantRefused: "too-many-alerts"},
		{name: "a post of as many alerts as maxAlertsPerPost is taken",
			settings: ports.Settings{"maxAlertsPerPost": 2},
			bodies:   []string{payload(firingAlert("fp1", t0), firingAlert("fp2", t0))}, wantCode: 200,
			want: []string{
				`alert-firing shop/api-0@fp1 KubePodCrashLooping "api-0 keeps crashing" sev=warning at=2026-08-01T10:00:00Z`,
				`alert-firing shop/api-0@fp2 KubePodCrashLooping "api-0 keeps crashing" sev=warning at=2026-08-01T10:00:00Z`,
			}},
		{name: "headers larger than maxHeaderBytes are refused before the handler runs",
			bodies: []string{payload(firingAlert("fp1", t0))}, header: []string{"X-Pad", strings.Repeat("x", 24<<10)},
			wantCode: 431},
		{name: "an alert's fingerprint too long for the Hook CRD is replaced by its SHA-256",
			bodies: []string{payload(firingAlert(strings.Repeat("f", 200), t0))}, wantCode: 200,
			want: []string{`alert-firing shop/api-0@` + sha256Hex(strings.Repeat("f", 200)) + ` KubePodCrashLooping "api-0 keeps crashing" sev=warning at=2026-08-01T10:00:00Z`}},
		{name: "with the bearer token the alert is taken",
			settings: settingsOf("bearerToken", "s3cret"),
			bodies:   []string{payload(firingAlert("fp1", t0))}, header: []string{"Authorization", "Bearer s3cret"}, wantCode: 200,
			want: []string{`alert-firing shop/api-0@fp1 KubePodCrashLooping "api-0 keeps crashing" sev=warning at=2026-08-01T10:00:00Z`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &recorder{}
			src := start(t, tt.settings, sink)
			url := src.url
			var code int
			var body string
			for _, b := range tt.bodies {
				code, body = post(t, url, b, tt.header...)
			}
			if code != tt.wantCode || (tt.wantBody != "" && body != tt.wantBody) {
				t.Errorf("answer %d %q, want %d %q", code, body, tt.wantCode, tt.wantBody)
			}
			var got []string
			for _, e := range sink.got() {
				got = append(got, brief(e))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if tt.wantRefused != "" && src.refused.count(tt.wantRefused) != 1 {
				t.Errorf("refusals %v, want one %s", src.refused.n, tt.wantRefused)
			}
		})
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func settingsOf(kv ...string) ports.Settings {
	s := ports.Settings{}
	for i := 0; i+1 < len(kv); i += 2 {
		s[kv[i]] = kv[i+1]
	}
	return s
}

func TestWebhookAsksForARetryWhenKhookCannotTakeTheAlerts(t *testing.T) {
	sink := &recorder{}
	// Long enough that a sink that takes the alerts at once is never mistaken for a blocked one
	// on a busy machine; the blocked post below waits it out.
	url := startSource(t, nil, sink, func(s *alertmanager.Source) { s.SetEnqueueTimeout(time.Second) })
	if code, _ := post(t, url, payload(firingAlert("fp1", "2026-08-01T10:00:00Z"))); code != http.StatusOK {
		t.Fatalf("first firing: %d", code)
	}
	sink.blocked.Store(true)
	code, body := post(t, url, payload(firingAlert("fp1", "2026-08-01T11:00:00Z")))
	if code != http.StatusServiceUnavailable || body != "khook could not record the alerts; retry" {
		t.Errorf("answer %d %q, want 503 asking for a retry", code, body)
	}
	// Alertmanager retries: the alert started again, so its previous firing still ends first.
	sink.blocked.Store(false)
	if code, _ := post(t, url, payload(firingAlert("fp1", "2026-08-01T11:00:00Z"))); code != http.StatusOK {
		t.Fatalf("retry: %d", code)
	}
	var got []string
	for _, e := range sink.got() {
		got = append(got, e.Timestamp.UTC().Format("15:04")+" "+string(e.Resolution))
	}
	if want := "10:00 |11:00 recovered|11:00 "; strings.Join(got, "|") != want {
		t.Errorf("events %q, want %q", strings.Join(got, "|"), want)
	}
}

func TestWebhookServesOnlyPostsToItsPath(t *testing.T) {
	url := startSource(t, nil, &recorder{})
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET %s: %d, want 405", url, resp.StatusCode)
	}
	if code, _ := post(t, strings.TrimSuffix(url, "/webhook")+"/other", payload()); code != http.StatusNotFound {
		t.Errorf("POST to another path: %d, want 404", code)
	}
}

func TestInitRefusesBadSettings(t *testing.T) {
	tests := []struct {
		name     string
		settings ports.Settings
		want     string
	}{
		{"a listen address without a port", ports.Settings{"listenAddress": "localhost"},
			`setting "listenAddress": "localhost" is not host:port: address localhost: missing port in address`},
		{"a malformed event type", ports.Settings{"eventType": "Alert"},
			`setting "eventType": event type "Alert" is not lower-case words joined by dashes`},
		{"a tiny body limit", ports.Settings{"maxBodyBytes": 10}, `setting "maxBodyBytes": 10 is not between 1024 and 67108864`},
		{"a header limit too small for Alertmanager's headers", ports.Settings{"maxHeaderBytes": 100},
			`setting "maxHeaderBytes": 100 is not between 4096 and 1048576`},
		{"no connections at all", ports.Settings{"maxConnections": 0}, `setting "maxConnections": 0 is not between 1 and 10000`},
		{"no posts at all", ports.Settings{"maxConcurrentPosts": 0}, `setting "maxConcurrentPosts": 0 is not between 1 and 64`},
		{"an idle timeout of hours", ports.Settings{"idleTimeout": "2h"}, `setting "idleTimeout": 2h0m0s is longer than 10m0s`},
		{"a body read timeout that is no duration", ports.Settings{"bodyReadTimeout": "soon"},
			`setting "bodyReadTimeout": "soon" is not a duration (e.g. 500ms, 30s, 1m)`},
		{"more alerts per post than per minute, so a full post could never be taken",
			ports.Settings{"maxAlertsPerPost": 500, "maxAlertsPerMinute": 100},
			`setting "maxAlertsPerPost": 500 is more than maxAlertsPerMinute (100): such a post could never be taken`},
		{"a per-minute cap of none", ports.Settings{"maxAlertsPerMinute": 0}, `setting "maxAlertsPerMinute": 0 is not between 1 and 1000000`},
		{"an unknown setting", ports.Settings{"listenAdress": ":1"},
			`unknown setting "listenAdress" (known: bearerToken, bodyReadTimeout, eventType, idleTimeout, listenAddress, maxAlertsPerMinute, ` +
				`maxAlertsPerPost, maxBodyBytes, maxConcurrentPosts, maxConnections, maxHeaderBytes)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := alertmanager.New(testr.New(t), nil).Init(context.Background(), tt.settings)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Init: %v, want %s", err, tt.want)
			}
		})
	}
}

// TestEveryRefusalReasonIsAMetricsSeries: the reasons the source reports are the label values
// khook_webhook_refused_total has from the start.
func TestEveryRefusalReasonIsAMetricsSeries(t *testing.T) {
	if !slices.Equal(alertmanager.RefusalReasons, metrics.WebhookRefusalReasons) {
		t.Errorf("the source refuses for %v, the metrics count %v", alertmanager.RefusalReasons, metrics.WebhookRefusalReasons)
	}
	var _ alertmanager.Metrics = (*metrics.Metrics)(nil)
}
