package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a binary may take to answer /-/ready (generous: the machine
// may be busy).
const startTimeout = 60 * time.Second

// AlertmanagerPath returns the Alertmanager binary, failing the test when it is not installed.
func AlertmanagerPath(t testing.TB) string {
	t.Helper()
	return binary(t, "KHOOK_ALERTMANAGER", "prometheus-alertmanager", "alertmanager")
}

// PrometheusPath returns the Prometheus binary, failing the test when it is not installed.
func PrometheusPath(t testing.TB) string {
	t.Helper()
	return binary(t, "KHOOK_PROMETHEUS", "prometheus")
}

func binary(t testing.TB, env string, names ...string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Fatalf("%s is not installed: run `make alerting` (hack/alerting.sh installs Debian's packages) or set %s", names[0], env)
	return ""
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// process is a started binary whose output is kept for the test log.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs bin with args until the test ends and waits for readyURL to answer 200.
func start(t testing.TB, name, bin, readyURL string, args ...string) *process {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(bin, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-p.done:
			t.Fatalf("%s exited while starting (%v):\n%s", name, p.cmd.ProcessState, p.out.String())
		default:
		}
		resp, err := http.Get(readyURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready at %s after %s (last: %v):\n%s", name, readyURL, startTimeout, err, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Alertmanager is a running Alertmanager.
type Alertmanager struct {
	URL string
}

// AlertmanagerOptions configure the route to the webhook.
type AlertmanagerOptions struct {
	// GroupWait, GroupInterval and RepeatInterval of the route (defaults 1s, 1s, 1h).
	GroupWait, GroupInterval, RepeatInterval time.Duration
	// BearerToken, when set, is sent to the webhook.
	BearerToken string
}

// StartAlertmanager starts Alertmanager, without gossip, routing every alert (each in its own
// group) to the webhook at webhookURL with resolved notifications on.
func StartAlertmanager(t testing.TB, webhookURL string, o AlertmanagerOptions) *Alertmanager {
	t.Helper()
	if o.GroupWait == 0 {
		o.GroupWait = time.Second
	}
	if o.GroupInterval == 0 {
		o.GroupInterval = time.Second
	}
	if o.RepeatInterval == 0 {
		o.RepeatInterval = time.Hour
	}
	auth := ""
	if o.BearerToken != "" {
		auth = fmt.Sprintf("        http_config:\n          authorization:\n            credentials: %q\n", o.BearerToken)
	}
	config := fmt.Sprintf(`route:
  receiver: khook
  group_by: ['...']
  group_wait: %s
  group_interval: %s
  repeat_interval: %s
receivers:
  - name: khook
    webhook_configs:
      - url: %q
        send_resolved: true
%s`, o.GroupWait, o.GroupInterval, o.RepeatInterval, webhookURL, auth)
	return StartAlertmanagerWithConfig(t, config)
}

// StartAlertmanagerWithConfig starts Alertmanager, without gossip, with config as its
// configuration file (alertmanager.yml), such as a receiver a document shows.
func StartAlertmanagerWithConfig(t testing.TB, config string) *Alertmanager {
	t.Helper()
	bin := AlertmanagerPath(t)
	dir := t.TempDir()
	configFile := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	start(t, "alertmanager", bin, "http://"+addr+"/-/ready",
		"--config.file="+configFile,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=", // no gossip
		"--log.level=warn",
	)
	return &Alertmanager{URL: "http://" + addr}
}

// Alert is an alert as posted to Alertmanager's API.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"startsAt,omitzero"`
	EndsAt      time.Time         `json:"endsAt,omitzero"`
}

// Post posts alerts to /api/v2/alerts. An alert whose EndsAt has passed is resolved.
func (a *Alertmanager) Post(t testing.TB, alerts ...Alert) {
	t.Helper()
	body, err := json.Marshal(alerts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.URL+"/api/v2/alerts", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("posting alerts: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		t.Fatalf("posting alerts: HTTP %d: %s", resp.StatusCode, b.String())
	}
}

// Prometheus is a running Prometheus.
type Prometheus struct {
	URL       string
	rulesFile string
}

// StartPrometheus starts Prometheus evaluating rules (a rule file's YAML) every second, with
// nothing to scrape and its lifecycle API on (for SetRules).
func StartPrometheus(t testing.TB, rules string) *Prometheus {
	t.Helper()
	bin := PrometheusPath(t)
	dir := t.TempDir()
	p := &Prometheus{rulesFile: filepath.Join(dir, "rules.yml")}
	if err := os.WriteFile(p.rulesFile, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	configFile := filepath.Join(dir, "prometheus.yml")
	config := fmt.Sprintf("global:\n  evaluation_interval: 1s\nrule_files:\n  - %q\n", p.rulesFile)
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	start(t, "prometheus", bin, "http://"+addr+"/-/ready",
		"--config.file="+configFile,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--web.enable-lifecycle",
		"--log.level=warn",
	)
	p.URL = "http://" + addr
	return p
}

// SetRules replaces the rule file and reloads Prometheus' configuration.
func (p *Prometheus) SetRules(t testing.TB, rules string) {
	t.Helper()
	if err := os.WriteFile(p.rulesFile, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(p.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatalf("reloading Prometheus: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reloading Prometheus: HTTP %d", resp.StatusCode)
	}
}
