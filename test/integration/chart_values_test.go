package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// helmTemplate renders charts/khook as `make chart` does, with --set values; it returns the
// objects, or helm's error output.
func helmTemplate(t *testing.T, set ...string) ([]*unstructured.Unstructured, error) {
	t.Helper()
	var args []string
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return helmTemplateArgs(t, args...)
}

// helmTemplateArgs renders charts/khook as `make chart` does, with further arguments such as
// -f values.yaml.
func helmTemplateArgs(t *testing.T, extra ...string) ([]*unstructured.Unstructured, error) {
	t.Helper()
	helm := os.Getenv("KHOOK_HELM")
	if helm == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("KHOOK_HELM is not set; `make test` builds helm and sets it")
		}
		t.Skip("KHOOK_HELM is not set; run `make test` (hack/helm.sh builds helm)")
	}
	args := append([]string{"template", "khook", filepath.Join("..", "..", "charts", "khook"), "--namespace", chartNamespace}, extra...)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helm, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, errors.New(stderr.String())
	}
	var objs []*unstructured.Unstructured
	decoder := utilyaml.NewYAMLOrJSONDecoder(&stdout, 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := decoder.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("reading helm's output: %v", err)
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
	return objs, nil
}

func kindsOf(objs []*unstructured.Unstructured) []string {
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
	}
	return kinds
}

func find(objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind {
			return o
		}
	}
	return nil
}

// grants says whether ClusterRole name has a rule allowing verb on resource of group.
func grants(t *testing.T, objs []*unstructured.Unstructured, name, group, resource, verb string) bool {
	t.Helper()
	role := findNamed(objs, "ClusterRole", name)
	if role == nil {
		t.Fatalf("no ClusterRole %s", name)
	}
	var r rbacv1.ClusterRole
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(role.Object, &r); err != nil {
		t.Fatal(err)
	}
	for _, rule := range r.Rules {
		if slices.Contains(rule.APIGroups, group) && slices.Contains(rule.Resources, resource) && slices.Contains(rule.Verbs, verb) {
			return true
		}
	}
	return false
}

func containerArgs(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	d := find(objs, "Deployment")
	if d == nil {
		t.Fatal("no Deployment rendered")
	}
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	return args
}

func TestTheChartRefusesWhatItCannotRun(t *testing.T) {
	tests := []struct {
		name    string
		set     []string
		wantErr string
	}{
		{"a misspelt top-level value fails the render", []string{"replicaCoun=2"}, "additional properties 'replicaCoun' not allowed"},
		{"a misspelt nested value fails the render", []string{"kagent.ur=http://kagent:8083"}, "additional properties 'ur' not allowed"},
		{"a misspelt value deep down fails the render", []string{"metrics.serviceMonitor.enable=true"}, "additional properties 'enable' not allowed"},
		{"a log level khook does not know fails", []string{"logLevel=warn"}, "/logLevel"},
		{"a log format khook does not know fails", []string{"logFormat=text"}, "/logFormat"},
		{"a duration that is not one fails", []string{"dedupWindow=ten minutes"}, "/dedupWindow"},
		{"a relative Kagent URL fails", []string{"kagent.url=kagent:8083"}, "/kagent/url"},
		{"no sends at once to an agent fails", []string{"delivery.maxSendsPerAgent=0"}, "/delivery/maxSendsPerAgent"},
		{"a delivery guarantee khook does not know fails", []string{"delivery.guarantee=exactly-once"}, "/delivery/guarantee"},
		{"a negative QPS fails", []string{"kubeApi.qps=-1"}, "/kubeApi/qps"},
		{"no agent with metrics series of its own fails", []string{"metrics.maxAgents=0"}, "/metrics/maxAgents"},
		{"leader election off with two replicas fails, saying why", []string{"replicaCount=2", "leaderElection.enabled=false"}, "keep leader election on"},
		{"a burst without a QPS fails, saying why", []string{"kubeApi.burst=10"}, "kubeApi.burst is set but kubeApi.qps is 0"},
		{"a ServiceMonitor without the metrics Service fails, saying why", []string{"metrics.serviceMonitor.enabled=true", "metrics.service.enabled=false"}, "needs metrics.service.enabled"},
		{"a mapping in the old spelling fails, saying what to swap",
			[]string{"eventSources.enabled=true", "eventSources.mappings[0].eventSource=alertmanager", "eventSources.mappings[0].eventType=KubePodCrashLooping", "eventSources.mappings[0].internalType=alert-crashloop"},
			`eventSources.mappings[0]: eventType "KubePodCrashLooping" is not a khook event type (lower-case words joined by dashes), and internalType "alert-crashloop" is one: this looks like the old spelling: swap eventType and internalType`},
		{"an old mapping that only set a severity fails, saying to rename eventType",
			[]string{"eventSources.enabled=true", "eventSources.mappings[0].eventSource=alertmanager", "eventSources.mappings[0].eventType=Watchdog", "eventSources.mappings[0].severity=none"},
			`eventSources.mappings[0]: eventType "Watchdog" is not a khook event type (lower-case words joined by dashes), and internalType is missing: this looks like the old spelling, where eventType held the source's own name: rename eventType to internalType`},
		{"a mapping without internalType fails, saying what it is",
			[]string{"eventSources.enabled=true", "eventSources.mappings[0].eventSource=kubernetes", "eventSources.mappings[0].eventType=oom-kill"},
			`eventSources.mappings[0]: internalType is required: the source's own name for the event`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := helmTemplate(t, tt.set...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("helm template --set %v = %v, want an error containing %q", tt.set, err, tt.wantErr)
			}
		})
	}
}

func TestTheChartRendersWhatTheValuesAskFor(t *testing.T) {
	tests := []struct {
		name  string
		set   []string
		check func(t *testing.T, objs []*unstructured.Unstructured)
	}{
		{"by default: no PodDisruptionBudget, ServiceMonitor or dashboards", nil, func(t *testing.T, objs []*unstructured.Unstructured) {
			for _, kind := range []string{"PodDisruptionBudget", "ServiceMonitor", "ConfigMap"} {
				if slices.Contains(kindsOf(objs), kind) {
					t.Errorf("the defaults render a %s", kind)
				}
			}
		}},
		{"one replica keeps leader election on, for rolling updates", nil, func(t *testing.T, objs []*unstructured.Unstructured) {
			if args := containerArgs(t, objs); !slices.Contains(args, "--leader-elect=true") || !slices.Contains(args, "--leader-election-namespace="+chartNamespace) {
				t.Errorf("args = %v", args)
			}
		}},
		{"one replica may run without leader election", []string{"leaderElection.enabled=false"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			if args := containerArgs(t, objs); !slices.Contains(args, "--leader-elect=false") {
				t.Errorf("args = %v", args)
			}
		}},
		{"two replicas get a PodDisruptionBudget keeping one", []string{"replicaCount=2"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			pdb := find(objs, "PodDisruptionBudget")
			if pdb == nil {
				t.Fatalf("rendered %v", kindsOf(objs))
			}
			if v, _, _ := unstructured.NestedFieldNoCopy(pdb.Object, "spec", "maxUnavailable"); fmt.Sprint(v) != "1" {
				t.Errorf("maxUnavailable = %v", v)
			}
		}},
		{"the PodDisruptionBudget may be switched off", []string{"replicaCount=2", "podDisruptionBudget.enabled=false"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			if find(objs, "PodDisruptionBudget") != nil {
				t.Error("a PodDisruptionBudget was rendered")
			}
		}},
		{"the readiness probe is /readyz, ready on standbys, and liveness /healthz", nil, func(t *testing.T, objs []*unstructured.Unstructured) {
			containers, _, _ := unstructured.NestedSlice(find(objs, "Deployment").Object, "spec", "template", "spec", "containers")
			c := containers[0].(map[string]any)
			ready, _, _ := unstructured.NestedString(c, "readinessProbe", "httpGet", "path")
			live, _, _ := unstructured.NestedString(c, "livenessProbe", "httpGet", "path")
			if ready != "/readyz" || live != "/healthz" {
				t.Errorf("readiness %q, liveness %q", ready, live)
			}
		}},
		{"the dashboards ConfigMap carries the sidecar's label and the dashboard JSON",
			[]string{"grafana.dashboards.enabled=true", "grafana.dashboards.namespace=monitoring"}, func(t *testing.T, objs []*unstructured.Unstructured) {
				cm := find(objs, "ConfigMap")
				if cm == nil {
					t.Fatalf("rendered %v", kindsOf(objs))
				}
				if cm.GetLabels()["grafana_dashboard"] != "1" || cm.GetNamespace() != "monitoring" {
					t.Errorf("labels %v, namespace %s", cm.GetLabels(), cm.GetNamespace())
				}
				data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
				var dash map[string]any
				if err := json.Unmarshal([]byte(data["khook.json"]), &dash); err != nil || dash["uid"] != "khook-overview" {
					t.Errorf("khook.json in the ConfigMap: %v (uid %v)", err, dash["uid"])
				}
			}},
		{"by default /metrics is served over HTTPS to tokens allowed to get it, and agents beyond 100 count as other", nil, func(t *testing.T, objs []*unstructured.Unstructured) {
			args := containerArgs(t, objs)
			if !slices.Contains(args, "--metrics-secure=true") || !slices.Contains(args, "--metrics-max-agents=100") ||
				slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--metrics-cert-dir") }) {
				t.Errorf("args = %v", args)
			}
			if !grants(t, objs, "khook", "authentication.k8s.io", "tokenreviews", "create") ||
				!grants(t, objs, "khook", "authorization.k8s.io", "subjectaccessreviews", "create") {
				t.Error("khook's ClusterRole may not review tokens and access: every scrape would fail")
			}
			reader := findNamed(objs, "ClusterRole", "khook-metrics-reader")
			if reader == nil {
				t.Fatalf("no ClusterRole khook-metrics-reader among %v", kindsOf(objs))
			}
			rules, _, _ := unstructured.NestedSlice(reader.Object, "rules")
			if fmt.Sprint(rules) != "[map[nonResourceURLs:[/metrics] verbs:[get]]]" {
				t.Errorf("khook-metrics-reader rules = %v, want get on /metrics only", rules)
			}
		}},
		{"metrics.secure=false serves plain HTTP and grants no reviews", []string{"metrics.secure=false", "metrics.serviceMonitor.enabled=true"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			if args := containerArgs(t, objs); !slices.Contains(args, "--metrics-secure=false") {
				t.Errorf("args = %v", args)
			}
			if grants(t, objs, "khook", "authentication.k8s.io", "tokenreviews", "create") || findNamed(objs, "ClusterRole", "khook-metrics-reader") != nil {
				t.Error("plain HTTP metrics still grant token reviews or ship a reader role")
			}
			endpoints, _, _ := unstructured.NestedSlice(find(objs, "ServiceMonitor").Object, "spec", "endpoints")
			if _, ok := endpoints[0].(map[string]any)["scheme"]; ok {
				t.Errorf("the ServiceMonitor of plain HTTP metrics sets a scheme: %v", endpoints[0])
			}
		}},
		{"the ServiceMonitor of secure metrics scrapes over HTTPS with Prometheus's token", []string{"metrics.serviceMonitor.enabled=true"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			endpoints, _, _ := unstructured.NestedSlice(find(objs, "ServiceMonitor").Object, "spec", "endpoints")
			e := endpoints[0].(map[string]any)
			skip, _, _ := unstructured.NestedBool(e, "tlsConfig", "insecureSkipVerify")
			if e["scheme"] != "https" || e["bearerTokenFile"] != "/var/run/secrets/kubernetes.io/serviceaccount/token" || !skip {
				t.Errorf("endpoint = %v, want https with the service-account token, skipping verification of the self-signed certificate", e)
			}
		}},
		{"a certificate Secret is mounted and served, and the ServiceMonitor verifies it with the CA given",
			[]string{"metrics.certSecret=khook-metrics-tls", "metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.tlsConfig.serverName=khook-metrics.kagent.svc",
				"metrics.serviceMonitor.tlsConfig.ca.secret.name=khook-metrics-tls", "metrics.serviceMonitor.tlsConfig.ca.secret.key=ca.crt"},
			func(t *testing.T, objs []*unstructured.Unstructured) {
				if args := containerArgs(t, objs); !slices.Contains(args, "--metrics-cert-dir=/etc/khook/metrics-certs") {
					t.Errorf("args = %v", args)
				}
				volumes, _, _ := unstructured.NestedSlice(find(objs, "Deployment").Object, "spec", "template", "spec", "volumes")
				if !strings.Contains(fmt.Sprint(volumes), "secretName:khook-metrics-tls") {
					t.Errorf("volumes = %v", volumes)
				}
				containers, _, _ := unstructured.NestedSlice(find(objs, "Deployment").Object, "spec", "template", "spec", "containers")
				if mounts, _, _ := unstructured.NestedSlice(containers[0].(map[string]any), "volumeMounts"); !strings.Contains(fmt.Sprint(mounts), "mountPath:/etc/khook/metrics-certs") {
					t.Errorf("volumeMounts = %v", mounts)
				}
				endpoints, _, _ := unstructured.NestedSlice(find(objs, "ServiceMonitor").Object, "spec", "endpoints")
				tls, _, _ := unstructured.NestedMap(endpoints[0].(map[string]any), "tlsConfig")
				if _, skip := tls["insecureSkipVerify"]; skip || tls["serverName"] != "khook-metrics.kagent.svc" {
					t.Errorf("tlsConfig = %v, want the given one in place of insecureSkipVerify", tls)
				}
			}},
		{"the ServiceMonitor scrapes the metrics Service's port", []string{"metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=prom"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			sm := find(objs, "ServiceMonitor")
			if sm == nil {
				t.Fatalf("rendered %v", kindsOf(objs))
			}
			endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
			if port, _, _ := unstructured.NestedString(endpoints[0].(map[string]any), "port"); port != "metrics" || sm.GetLabels()["release"] != "prom" {
				t.Errorf("ServiceMonitor %v", sm.Object)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := helmTemplate(t, tt.set...)
			if err != nil {
				t.Fatalf("helm template --set %v: %v", tt.set, err)
			}
			tt.check(t, objs)
		})
	}
}
