package main

import (
	"bytes"
	"errors"
	"flag"
	"github.com/khook-dev/khook/domain/delivery"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/khook-dev/khook/app"
)

func TestParseFlags(t *testing.T) {
	outside := inClusterNamespaceFile // the tests run outside a Pod, even in one
	inClusterNamespaceFile = filepath.Join(t.TempDir(), "no-such-file")
	t.Cleanup(func() { inClusterNamespaceFile = outside })
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inPod := map[string]string{"POD_NAMESPACE": "kagent"}
	certDir := t.TempDir()
	for _, name := range []string{"tls.crt", "tls.key"} {
		if err := os.WriteFile(filepath.Join(certDir, name), []byte("not checked at parse time"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	with := func(extra map[string]string) map[string]string {
		env := map[string]string{"POD_NAMESPACE": "kagent"}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c config) // nil when an error is wanted
		// wantErr is part of the error; it names the flag or variable at fault.
		wantErr string
	}{
		{"the defaults point at an in-cluster Kagent", nil, inPod, func(t *testing.T, c config) {
			equal(t, c.opts.KagentURL, "http://kagent-controller.kagent:8083")
			equal(t, c.opts.UserID, "admin@kagent.dev")
			equal(t, c.opts.RequestTimeout, 30*time.Second)
			equal(t, c.opts.Delivery.Guarantee, delivery.AtLeastOnce)
			equal(t, c.opts.Delivery.MaxInvestigationsPerAgent, 4)
			equal(t, c.opts.Delivery.InvestigationTimeout, time.Hour)
			equal(t, c.leaderElect, true)
			equal(t, c.leaderElectNamespace, "kagent")
			equal(t, c.opts.ClusterEventNamespaces, []string{"kagent"})
		}, ""},
		{"the original khook's environment variables are honoured",
			nil, with(map[string]string{"KAGENT_API_URL": "http://kagent:8083", "KAGENT_USER_ID": "ops@x", "KAGENT_API_TIMEOUT": "120"}),
			func(t *testing.T, c config) {
				equal(t, c.opts.KagentURL, "http://kagent:8083")
				equal(t, c.opts.UserID, "ops@x")
				equal(t, c.opts.RequestTimeout, 2*time.Minute)
			}, ""},
		{"the original khook's legacy KAGENT_API_BASE_URL is honoured too",
			nil, with(map[string]string{"KAGENT_API_BASE_URL": "https://kagent.example:8443"}),
			func(t *testing.T, c config) { equal(t, c.opts.KagentURL, "https://kagent.example:8443") }, ""},
		{"KAGENT_API_URL wins over the legacy name",
			nil, with(map[string]string{"KAGENT_API_URL": "http://new:1", "KAGENT_API_BASE_URL": "http://old:1"}),
			func(t *testing.T, c config) { equal(t, c.opts.KagentURL, "http://new:1") }, ""},
		{"a timeout may also be a duration", nil, with(map[string]string{"KAGENT_API_TIMEOUT": "90s"}),
			func(t *testing.T, c config) { equal(t, c.opts.RequestTimeout, 90*time.Second) }, ""},
		{"flags win over the environment",
			[]string{"-kagent-url", "http://other:1", "-user-id", "me", "-call-timeout", "5s"},
			with(map[string]string{"KAGENT_API_URL": "http://kagent:8083", "KAGENT_USER_ID": "ops@x", "KAGENT_API_TIMEOUT": "120"}),
			func(t *testing.T, c config) {
				equal(t, c.opts.KagentURL, "http://other:1")
				equal(t, c.opts.UserID, "me")
				equal(t, c.opts.RequestTimeout, 5*time.Second)
			}, ""},
		{"the old -call-timeout still sets the request timeout", []string{"-call-timeout", "7s"}, inPod,
			func(t *testing.T, c config) { equal(t, c.opts.RequestTimeout, 7*time.Second) }, ""},
		{"delivery is tuned by flags", []string{"--delivery-guarantee=at-most-once", "--max-sends-per-agent=1", "--max-investigations-per-agent=9",
			"--investigation-timeout=2h", "--retry-initial=1m", "--retry-max=20m", "--max-attempts=3"}, inPod,
			func(t *testing.T, c config) {
				equal(t, c.opts.Delivery, delivery.Options{Guarantee: delivery.AtMostOnce, MaxSendsPerAgent: 1, MaxInvestigationsPerAgent: 9,
					InvestigationTimeout: 2 * time.Hour, RetryInitial: time.Minute, RetryMax: 20 * time.Minute, MaxAttempts: 3})
			}, ""},
		{"a secured Kagent is configured by flags", []string{"--kagent-ca-file=/etc/khook/ca.crt", "--kagent-token-file=/var/run/secrets/kagent/token",
			"--kagent-header=X-Tenant=platform", "--kagent-header", "X-Team=sre=on-call"}, inPod,
			func(t *testing.T, c config) {
				equal(t, c.opts.KagentSecurity.CAFile, "/etc/khook/ca.crt")
				equal(t, c.opts.KagentSecurity.TokenFile, "/var/run/secrets/kagent/token")
				equal(t, c.opts.KagentSecurity.Headers, map[string]string{"X-Tenant": "platform", "X-Team": "sre=on-call"})
			}, ""},
		{"flags may be written with two dashes, as kubebuilder controllers document them",
			[]string{"--dedup-window=30m", "--max-sends-per-agent", "3", "--leader-elect=false"}, nil,
			func(t *testing.T, c config) {
				equal(t, c.opts.DedupWindow, 30*time.Minute)
				equal(t, c.opts.Delivery.MaxSendsPerAgent, 3)
				equal(t, c.leaderElect, false)
			}, ""},
		{"a kubeconfig that exists is taken", []string{"--kubeconfig", kubeconfig}, inPod,
			func(t *testing.T, c config) { equal(t, c.kubeconfig, kubeconfig) }, ""},
		{"a QPS limit brings a burst of twice as much", []string{"--kube-api-qps=20"}, inPod,
			func(t *testing.T, c config) { equal(t, c.kubeAPIQPS, 20.0); equal(t, c.burst(), 40) }, ""},
		{"a fractional QPS rounds its burst up", []string{"--kube-api-qps=0.5"}, inPod,
			func(t *testing.T, c config) { equal(t, c.burst(), 1) }, ""},
		{"a burst given is taken as it is", []string{"--kube-api-qps=20", "--kube-api-burst=50"}, inPod,
			func(t *testing.T, c config) { equal(t, c.burst(), 50) }, ""},
		{"cluster event namespaces are a comma-separated list", []string{"--cluster-event-namespaces", " kagent, ,monitoring "}, inPod,
			func(t *testing.T, c config) {
				equal(t, c.opts.ClusterEventNamespaces, []string{"kagent", "monitoring"})
			}, ""},
		{"an empty cluster event namespace list means none", []string{"--cluster-event-namespaces="}, inPod,
			func(t *testing.T, c config) { equal(t, len(c.opts.ClusterEventNamespaces), 0) }, ""},
		{"every agent namespace is allowed by default, as before", nil, inPod,
			func(t *testing.T, c config) { equal(t, len(c.opts.AllowedAgentNamespaces), 0) }, ""},
		{"allowed agent namespaces are a comma-separated list of names, @self and *",
			[]string{"--allowed-agent-namespaces", " kagent, @self,,team-a-agents "}, inPod,
			func(t *testing.T, c config) {
				equal(t, c.opts.AllowedAgentNamespaces, []string{"kagent", "@self", "team-a-agents"})
			}, ""},
		{"the zap log level is controller-runtime's flag", []string{"--zap-log-level=debug"}, inPod,
			func(t *testing.T, c config) { equal(t, c.zap.Level.Enabled(zapcore.DebugLevel), true) }, ""},
		{"the original -log-level still sets the zap level", []string{"-log-level=error"}, inPod,
			func(t *testing.T, c config) { equal(t, c.zap.Level.Enabled(zapcore.InfoLevel), false) }, ""},
		{"one replica may run outside the cluster without leader election", []string{"--leader-elect=false"}, nil,
			func(t *testing.T, c config) { equal(t, c.leaderElectNamespace, "") }, ""},

		{"a malformed KAGENT_API_TIMEOUT is an error naming it", nil, with(map[string]string{"KAGENT_API_TIMEOUT": "soon"}), nil, "KAGENT_API_TIMEOUT"},
		{"a relative KAGENT_API_URL is an error naming it", nil, with(map[string]string{"KAGENT_API_URL": "kagent:8083"}), nil, "KAGENT_API_URL"},
		{"a relative Kagent URL is an error naming the flag", []string{"--kagent-url", "kagent:8083"}, inPod, nil, "-kagent-url"},
		{"an empty user is an error", []string{"--user-id="}, inPod, nil, "-user-id"},
		{"a zero request timeout is an error, not the default", []string{"--request-timeout=0"}, inPod, nil, "-request-timeout"},
		{"an unknown delivery guarantee is an error naming the flag", []string{"--delivery-guarantee=exactly-once"}, inPod, nil, "-delivery-guarantee"},
		{"a header without a value is an error naming the flag", []string{"--kagent-header=X-Tenant"}, inPod, nil, "-kagent-header"},
		{"more sends than investigations per agent is an error", []string{"--max-sends-per-agent=5", "--max-investigations-per-agent=2"}, inPod, nil, "MaxSendsPerAgent (5)"},
		{"a malformed duration is an error naming the flag", []string{"--dedup-window=soon"}, inPod, nil, "-dedup-window"},
		{"a negative duration is an error, not the default", []string{"--status-flush-interval=-1s"}, inPod, nil, "-status-flush-interval"},
		{"a zero duration is an error, not the default", []string{"--cleanup-interval=0s"}, inPod, nil, "-cleanup-interval"},
		{"no sends at once is an error, not the default", []string{"--max-sends-per-agent=0"}, inPod, nil, "-max-sends-per-agent"},
		{"a negative QPS is an error", []string{"--kube-api-qps=-5"}, inPod, nil, "-kube-api-qps"},
		{"a QPS that is not a number is an error", []string{"--kube-api-qps=NaN"}, inPod, nil, "-kube-api-qps"},
		{"a negative burst is an error", []string{"--kube-api-qps=5", "--kube-api-burst=-1"}, inPod, nil, "-kube-api-burst"},
		{"a burst without a QPS is an error, not ignored", []string{"--kube-api-burst=10"}, inPod, nil, "--kube-api-burst has no effect without --kube-api-qps"},
		{"a kubeconfig that does not exist is an error naming the flag", []string{"--kubeconfig", "/nonexistent/kubeconfig"}, inPod, nil, "--kubeconfig"},
		{"an unknown zap log level is an error", []string{"--zap-log-level=loud"}, inPod, nil, "-zap-log-level"},
		{"an unknown log level through the old flag is an error naming it", []string{"-log-level=loud"}, inPod, nil, "-log-level"},
		{"an unknown log encoder is an error", []string{"--zap-encoder=xml"}, inPod, nil, "-zap-encoder"},
		{"an unknown flag is an error naming it", []string{"--kubeconfg=/x"}, inPod, nil, "-kubeconfg"},
		{"a stray argument is an error", []string{"run"}, inPod, nil, `unexpected argument "run"`},
		{"leader election outside the cluster needs a namespace", nil, nil, nil, "--leader-elect needs --leader-election-namespace"},

		{"the endpoints listen on :8080 and :8081 by default", nil, inPod,
			func(t *testing.T, c config) { equal(t, c.metricsAddr, ":8080"); equal(t, c.probeAddr, ":8081") }, ""},
		{"a bind address may name its host by an IPv4 or IPv6 address",
			[]string{"--metrics-bind-address=127.0.0.1:9090", "--health-probe-bind-address=[::1]:9091"}, inPod,
			func(t *testing.T, c config) {
				equal(t, c.metricsAddr, "127.0.0.1:9090")
				equal(t, c.probeAddr, "[::1]:9091")
			}, ""},
		{"a bind address may be a host name", []string{"--metrics-bind-address=localhost:9090"}, inPod,
			func(t *testing.T, c config) { equal(t, c.metricsAddr, "localhost:9090") }, ""},
		{"0 disables an endpoint, as controller-runtime reads it",
			[]string{"--metrics-bind-address=0", "--health-probe-bind-address=0"}, inPod,
			func(t *testing.T, c config) { equal(t, c.metricsAddr, "0"); equal(t, c.probeAddr, "0") }, ""},
		{"port 0 picks a free port, for both endpoints at once",
			[]string{"--metrics-bind-address=127.0.0.1:0", "--health-probe-bind-address=127.0.0.1:0"}, inPod,
			func(t *testing.T, c config) { equal(t, c.probeAddr, "127.0.0.1:0") }, ""},
		{"metrics are served over HTTPS, with authentication and authorisation, by default", nil, inPod,
			func(t *testing.T, c config) {
				o, err := app.MetricsServerOptions(c.metricsServing())
				if err != nil {
					t.Fatal(err)
				}
				if !o.SecureServing || o.FilterProvider == nil || o.CertDir != "" {
					t.Fatalf("metrics options = secure %v, filter %v, cert dir %q; want HTTPS behind the API server's authn/authz, self-signed",
						o.SecureServing, o.FilterProvider != nil, o.CertDir)
				}
			}, ""},
		{"--metrics-secure=false serves plain HTTP to anyone, as before", []string{"--metrics-secure=false"}, inPod,
			func(t *testing.T, c config) {
				o, err := app.MetricsServerOptions(c.metricsServing())
				if err != nil {
					t.Fatal(err)
				}
				if o.SecureServing || o.FilterProvider != nil {
					t.Fatalf("metrics options = secure %v, filter %v; want plain HTTP", o.SecureServing, o.FilterProvider != nil)
				}
			}, ""},
		{"a metrics certificate directory with tls.crt and tls.key serves them", []string{"--metrics-cert-dir=" + certDir}, inPod,
			func(t *testing.T, c config) {
				o, err := app.MetricsServerOptions(c.metricsServing())
				if err != nil {
					t.Fatal(err)
				}
				equal(t, o.CertDir, certDir)
				equal(t, o.CertName, "tls.crt")
				equal(t, o.KeyName, "tls.key")
			}, ""},
		{"a metrics certificate directory without its files is an error, not a silent self-signed certificate",
			[]string{"--metrics-cert-dir=" + t.TempDir()}, inPod, nil, "--metrics-cert-dir: metrics certificate directory"},
		{"a metrics certificate directory with plain HTTP is an error, not ignored",
			[]string{"--metrics-secure=false", "--metrics-cert-dir=" + certDir}, inPod, nil, "--metrics-cert-dir: a metrics certificate directory needs secure serving"},
		{"100 agents have metrics series of their own by default", nil, inPod,
			func(t *testing.T, c config) { equal(t, c.opts.MetricsMaxAgents, 100) }, ""},
		{"the number of agents with series of their own is taken from the flag", []string{"--metrics-max-agents=20"}, inPod,
			func(t *testing.T, c config) { equal(t, c.opts.MetricsMaxAgents, 20) }, ""},
		{"no agent with series of its own is an error, not the default", []string{"--metrics-max-agents=0"}, inPod, nil, "-metrics-max-agents"},
		{"the Lease's namespace is taken from the flag", []string{"--leader-election-namespace=khook-system"}, inPod,
			func(t *testing.T, c config) { equal(t, c.leaderElectNamespace, "khook-system") }, ""},

		{"a bind address without a port is an error naming the flag", []string{"--metrics-bind-address=8080"}, inPod, nil,
			`invalid value "8080" for flag -metrics-bind-address: "8080" is not host:port`},
		{"a port out of range is an error naming the flag", []string{"--health-probe-bind-address=:65536"}, inPod, nil,
			`invalid value ":65536" for flag -health-probe-bind-address: ":65536": the port "65536" is not a number from 0 to 65535`},
		{"a negative port is an error naming the flag", []string{"--metrics-bind-address=:-1"}, inPod, nil, "-metrics-bind-address"},
		{"a named port is an error naming the flag", []string{"--metrics-bind-address=:http"}, inPod, nil,
			`flag -metrics-bind-address: ":http": the port "http" is not a number`},
		{"an empty bind address is an error, not a silent default or a disabled endpoint", []string{"--health-probe-bind-address="}, inPod, nil,
			"-health-probe-bind-address"},
		{"a host that is no host name is an error naming the flag", []string{"--metrics-bind-address=my host:8080"}, inPod, nil,
			`flag -metrics-bind-address: "my host:8080": the host "my host" is neither an IP address nor a host name`},
		{"a URL is not a bind address", []string{"--metrics-bind-address=http://0.0.0.0:8080"}, inPod, nil, "-metrics-bind-address"},
		{"both endpoints on one address is an error naming both flags",
			[]string{"--metrics-bind-address=:9000", "--health-probe-bind-address=:9000"}, inPod, nil,
			"--metrics-bind-address and --health-probe-bind-address are both :9000"},
		{"a Lease namespace that is no namespace name is an error naming the flag", []string{"--leader-election-namespace=Kagent_System"}, inPod, nil,
			`invalid value "Kagent_System" for flag -leader-election-namespace: "Kagent_System" is not a namespace name`},
		{"an empty Lease namespace is an error, not a silent default", []string{"--leader-election-namespace="}, inPod, nil,
			`invalid value "" for flag -leader-election-namespace`},
		{"an allowed agent namespace that can match nothing is an error naming the flag", []string{"--allowed-agent-namespaces=kagent,$self"}, inPod, nil,
			`invalid value "kagent,$self" for flag -allowed-agent-namespaces: "$self" is neither a namespace name nor @self or *`},
		{"a POD_NAMESPACE that is no namespace name is an error naming it", nil, with(map[string]string{"POD_NAMESPACE": "not a namespace"}), nil,
			`POD_NAMESPACE: "not a namespace" is not a namespace name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.args, func(k string) string { return tt.env[k] }, &bytes.Buffer{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseFlags error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFlags: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestHelpPrintsEveryFlagAndIsNoError(t *testing.T) {
	var out bytes.Buffer
	_, err := parseFlags([]string{"-help"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("parseFlags(-help) = %v, want flag.ErrHelp", err)
	}
	for _, name := range []string{"-kubeconfig", "-kube-api-qps", "-zap-log-level", "-kagent-url", "-leader-elect"} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("the usage does not mention %s:\n%s", name, out.String())
		}
	}
}

func equal[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
