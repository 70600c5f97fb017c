package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/test/echoagent"
)

// TestKhookRunsFromItsCommandLine is what a new user does: run the khook binary against a
// cluster through --kubeconfig, give it a Hook and a crash-looping Pod's Events, and watch
// its probes and /metrics. Two replicas run, to see a leader and a standby, then a failover.
// Their Prometheus source points at an endpoint that is down, as when Prometheus is unreachable
// at start: the leader must serve all the same, the source named by /readyz/sources alone.
// Then an agent that fails at first (a delivery retry) and a Hook whose prompt is refused.
func TestKhookRunsFromItsCommandLine(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("KUBEBUILDER_ASSETS is not set; `make test` builds kube-apiserver and etcd and sets it")
		}
		t.Skip("KUBEBUILDER_ASSETS is not set; run `make test`")
	}
	binary := buildKhook(t)
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha2.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "charts", "khook", "crds")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest: %v", err)
		}
	})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	agent := echoagent.Start(echoagent.Options{})
	t.Cleanup(agent.Close)
	sourcesConfig := filepath.Join(t.TempDir(), "event-watcher-config.yaml")
	prometheusDown := "http://" + freeAddr(t) // nothing listens there
	if err := os.WriteFile(sourcesConfig, []byte("eventSources:\n  - name: prometheus\n    settings:\n      endpoint: "+prometheusDown+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	leader := startKhook(t, binary, "leader", kubeconfig, agent.URL, "--event-watcher-config", sourcesConfig)
	leader.waitFor(t, "/readyz", http.StatusOK) // although its Prometheus source cannot start
	leader.waitFor(t, "/readyz/leader", http.StatusOK)
	if code, body := leader.getBody(t, "/readyz/sources"); code != http.StatusInternalServerError ||
		!strings.Contains(body, "prometheus is") || !strings.Contains(body, "connection refused") {
		t.Errorf("the leader's /readyz/sources = %d %q, want 500 naming the prometheus source and why", code, body)
	}
	standby := startKhook(t, binary, "standby", kubeconfig, agent.URL, "--event-watcher-config", sourcesConfig)
	standby.waitFor(t, "/readyz", http.StatusOK) // ready as a standby
	for _, r := range []*khookProcess{leader, standby} {
		r.waitFor(t, "/healthz", http.StatusOK)
	}
	if code := standby.get(t, "/readyz/leader"); code == http.StatusOK {
		t.Fatalf("the standby answers /readyz/leader with %d; only the leader may", code)
	}

	// A Hook, and a crash loop seen twice: one firing, one duplicate, one agent call.
	ctx := context.Background()
	hook := &v1alpha2.Hook{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "restarts"},
		Spec: v1alpha2.HookSpec{EventConfigurations: []v1alpha2.EventConfiguration{{
			EventType: "pod-restart",
			AgentRef:  &v1alpha2.AgentReference{Namespace: "kagent", Name: "k8s-agent"},
			Prompt:    "Pod {{.ResourceName}} restarted: {{.Message}}",
		}}},
	}
	if err := k8s.Create(ctx, hook); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(hook), hook); err != nil {
			return err
		}
		for _, c := range hook.Status.Conditions {
			if c.Type == "Accepted" && c.Status == metav1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("the Hook is not accepted yet: %+v", hook.Status.Conditions)
	})
	for range 2 {
		if err := k8s.Create(ctx, backOff("default", "web-1")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, func() error {
		if n := len(agent.ReceivedBy("kagent/k8s-agent")); n != 1 {
			return fmt.Errorf("the agent received %d messages, want 1", n)
		}
		return nil
	})
	eventually(t, 20*time.Second, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(hook), hook); err != nil {
			return err
		}
		if len(hook.Status.ActiveEvents) != 1 || hook.Status.ActiveEvents[0].NotifiedAt == nil {
			return fmt.Errorf("status = %+v", hook.Status.ActiveEvents)
		}
		return nil
	})

	// A Hook whose prompt khook refuses: not accepted, and counted.
	refused := &v1alpha2.Hook{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "refused-prompt"},
		Spec: v1alpha2.HookSpec{EventConfigurations: []v1alpha2.EventConfiguration{{
			EventType: "oom-kill",
			AgentRef:  &v1alpha2.AgentReference{Namespace: "kagent", Name: "k8s-agent"},
			Prompt:    "{{.Secret}}", // no such field: only khook can tell
		}}},
	}
	if err := k8s.Create(ctx, refused); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(refused), refused); err != nil {
			return err
		}
		for _, c := range refused.Status.Conditions {
			if c.Type == "Accepted" && c.Status == metav1.ConditionFalse && c.Reason == "TemplateRefused" {
				return nil
			}
		}
		return fmt.Errorf("the Hook with a refused prompt is not refused yet: %+v", refused.Status.Conditions)
	})

	// What /metrics says about it.
	want := map[string]float64{
		`leader_election_master_status{name="khook.kagent.dev"}`: 1,
		`khook_audit_events_dropped_total`:                       0,
	}
	for series, v := range map[string]float64{
		`khook_events_received_total{event_type="pod-restart",source="kubernetes"}`: 2,
		`khook_events_matched_total{event_type="pod-restart"}`:                      2,
		`khook_firings_total{event_type="pod-restart"}`:                             1,
		`khook_events_duplicate_total{event_type="pod-restart"}`:                    1,
		`khook_firing_entries`: 1,
		`khook_agent_sends_total{agent="kagent/k8s-agent",result="accepted"}`:                      1,
		`khook_agent_send_duration_seconds_count{agent="kagent/k8s-agent"}`:                        1,
		`khook_investigation_duration_seconds_count{agent="kagent/k8s-agent",outcome="completed"}`: 1,
		`khook_agent_queue_depth{agent="kagent/k8s-agent"}`:                                        0,
		`khook_agent_breaker_state{agent="kagent/k8s-agent"}`:                                      0, // closed, from its first use
		`khook_source_up{source="kubernetes"}`:                                                     1,
		`khook_source_up{source="prometheus"}`:                                                     0, // its endpoint is down
		`khook_template_refusals_total{reason="refused"}`:                                          1,
		`khook_template_refusals_total{reason="budget"}`:                                           0,
		`khook_status_writes_total{result="error"}`:                                                0,
	} {
		want[series] = v
	}
	atLeast := map[string]float64{
		`khook_status_writes_total{result="written"}`:      1, // the firing's status at least
		`khook_source_restarts_total{source="prometheus"}`: 1,
		// Conditions are updated with a resource version, so a conflict (retried) is normal:
		// the series must be there, its value is the cluster's business.
		`khook_status_writes_total{result="conflict"}`: 0,
	}
	leader.waitForMetrics(t, want, atLeast)
	if v := standby.scrape(t)[`leader_election_master_status{name="khook.kagent.dev"}`]; v != 0 {
		t.Errorf("the standby reports leader_election_master_status %v", v)
	}

	// An agent that fails its first send (three 503s: the caller's two quick retries do not get
	// past them), in a namespace of its own so the counts above stay as they are: the delivery
	// is retried after --retry-initial and then accepted; three failures do not open its breaker.
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ops"}}); err != nil {
		t.Fatal(err)
	}
	flakyHook := &v1alpha2.Hook{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "restarts"},
		Spec: v1alpha2.HookSpec{EventConfigurations: []v1alpha2.EventConfiguration{{
			EventType: "pod-restart",
			AgentRef:  &v1alpha2.AgentReference{Namespace: "kagent", Name: "flaky-agent"},
			Prompt:    "Pod {{.ResourceName}} restarted",
		}}},
	}
	if err := k8s.Create(ctx, flakyHook); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(flakyHook), flakyHook); err != nil {
			return err
		}
		for _, c := range flakyHook.Status.Conditions {
			if c.Type == "Accepted" && c.Status == metav1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("the ops Hook is not accepted yet: %+v", flakyHook.Status.Conditions)
	})
	agent.FailNext(3)
	if err := k8s.Create(ctx, backOff("ops", "api-1")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		if n := len(agent.ReceivedBy("kagent/flaky-agent")); n != 1 {
			return fmt.Errorf("the flaky agent received %d messages, want 1", n)
		}
		return nil
	})
	leader.waitForMetrics(t, map[string]float64{
		`khook_delivery_retries_total{agent="kagent/flaky-agent"}`:              1,
		`khook_agent_sends_total{agent="kagent/flaky-agent",result="failed"}`:   1,
		`khook_agent_sends_total{agent="kagent/flaky-agent",result="accepted"}`: 1,
		`khook_agent_breaker_state{agent="kagent/flaky-agent"}`:                 0,
		`khook_agent_breaker_state{agent="kagent/k8s-agent"}`:                   0,
		`khook_firings_total{event_type="pod-restart"}`:                         2,
	}, nil)

	// The ops Hook goes: no Hook names the flaky agent any more, so its series go too (Hooks are
	// tenants', and may name any agent); the other agent's stay.
	if err := k8s.Delete(ctx, flakyHook); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		got := leader.scrape(t)
		for series := range got {
			if strings.Contains(series, `agent="kagent/flaky-agent"`) {
				return fmt.Errorf("%s is still scraped after the last Hook naming its agent was deleted", series)
			}
		}
		if _, ok := got[`khook_agent_sends_total{agent="kagent/k8s-agent",result="accepted"}`]; !ok {
			return errors.New("the series of kagent/k8s-agent, which a Hook still names, went too")
		}
		return nil
	})

	// The leader stops; the standby takes over and becomes the serving leader.
	leader.stop(t)
	standby.waitFor(t, "/readyz/leader", http.StatusOK)
	standby.stop(t)
}

// khookProcess is one khook binary running against the test's API server.
type khookProcess struct {
	name            string
	cmd             *exec.Cmd
	done            chan error
	metrics, probes string
	logPath         string
	stopped         bool
}

func startKhook(t *testing.T, binary, name, kubeconfig, kagentURL string, extra ...string) *khookProcess {
	t.Helper()
	p := &khookProcess{name: name, metrics: freeAddr(t), probes: freeAddr(t), logPath: filepath.Join(t.TempDir(), name+".log"), done: make(chan error, 1)}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(binary,
		"--kubeconfig", kubeconfig,
		"--kagent-url", kagentURL,
		"--metrics-bind-address", p.metrics,
		// Plain HTTP, to read /metrics without a token; the secure default is tested on the API
		// server by test/integration's TestTheMetricsEndpointAnswersOnlyTokensAllowedToGetIt.
		"--metrics-secure=false",
		"--health-probe-bind-address", p.probes,
		"--leader-election-namespace", "default",
		"--cluster-event-namespaces", "default",
		"--status-flush-interval", "2s",
		"--shutdown-timeout", "5s",
		"--zap-encoder", "console",
		"--retry-initial", "1s",
	)
	p.cmd.Args = append(p.cmd.Args, extra...)
	p.cmd.Env = cleanEnv()
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.done <- p.cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		if !p.stopped {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			p.dumpLog(t)
		}
	})
	return p
}

// cleanEnv is the test's environment without what would point khook elsewhere.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "KUBECONFIG" || name == "POD_NAMESPACE" || strings.HasPrefix(name, "KAGENT_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (p *khookProcess) get(t *testing.T, path string) int {
	t.Helper()
	code, _ := p.getBody(t, path)
	return code
}

// getBody asks a probe endpoint; 0 when it does not answer.
func (p *khookProcess) getBody(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + p.probes + path)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitForMetrics scrapes /metrics until every series of want has its value and every series of
// atLeast at least its value.
func (p *khookProcess) waitForMetrics(t *testing.T, want, atLeast map[string]float64) {
	t.Helper()
	eventually(t, 20*time.Second, func() error {
		got := p.scrape(t)
		var wrong []string
		for series, v := range want {
			if g, ok := got[series]; !ok || g != v {
				wrong = append(wrong, fmt.Sprintf("%s = %v (present: %v), want %v", series, g, ok, v))
			}
		}
		for series, v := range atLeast {
			if g, ok := got[series]; !ok || g < v {
				wrong = append(wrong, fmt.Sprintf("%s = %v (present: %v), want at least %v", series, g, ok, v))
			}
		}
		if len(wrong) > 0 {
			return fmt.Errorf("%s's /metrics:\n  %s", p.name, strings.Join(wrong, "\n  "))
		}
		return nil
	})
}

// waitFor polls a probe endpoint until it answers want; the process must not exit meanwhile.
func (p *khookProcess) waitFor(t *testing.T, path string, want int) {
	t.Helper()
	eventually(t, 60*time.Second, func() error {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("%s exited: %v", p.name, err)
		default:
		}
		if code := p.get(t, path); code != want {
			return fmt.Errorf("%s: GET %s = %d, want %d", p.name, path, code, want)
		}
		return nil
	})
}

// scrape reads /metrics into series (name{labels sorted}) and values.
func (p *khookProcess) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		t.Fatalf("%s: GET /metrics: %v", p.name, err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("%s: parsing /metrics: %v", p.name, err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			series := name
			if len(labels) > 0 {
				series += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[series] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[series] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[strings.Replace(series, name, name+"_count", 1)] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// stop sends SIGTERM, as the kubelet does, and expects a clean exit.
func (p *khookProcess) stop(t *testing.T) {
	t.Helper()
	p.stopped = true
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signalling %s: %v", p.name, err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("%s exited with %v after SIGTERM", p.name, err)
		}
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not stop within a minute of SIGTERM", p.name)
	}
}

func (p *khookProcess) dumpLog(t *testing.T) {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	t.Logf("last lines of %s's log:\n%s", p.name, strings.Join(lines, "\n"))
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func backOff(ns, pod string) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Namespace: ns, GenerateName: pod + "-"},
		EventTime:           metav1.NewMicroTime(time.Now()),
		ReportingController: "kubelet",
		ReportingInstance:   "node-1",
		Action:              "Restarting",
		Reason:              "BackOff",
		Note:                "Back-off restarting failed container app in pod " + pod,
		Type:                corev1.EventTypeWarning,
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod, APIVersion: "v1"},
	}
}

// eventually retries check until it passes or timeout runs out.
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
		time.Sleep(100 * time.Millisecond)
	}
}
