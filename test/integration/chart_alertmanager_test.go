package integration

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/khook-dev/khook/adapters/sources"
)

// withAlertmanager are --set values enabling the Alertmanager source, and more.
func withAlertmanager(more ...string) []string {
	return append([]string{"eventSources.enabled=true", "eventSources.config.eventSources[0].name=alertmanager",
		"eventSources.alertmanagerPort=9095"}, more...)
}

// findNamed is the object of kind and name.
func findNamed(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// watcherConfig is the event-watcher-config.yaml the chart renders.
func watcherConfig(t *testing.T, objs []*unstructured.Unstructured) sources.SourceConfig {
	t.Helper()
	cm := findNamed(objs, "ConfigMap", "khook-event-sources")
	if cm == nil {
		t.Fatalf("no event sources ConfigMap among %v", kindsOf(objs))
	}
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	var file struct {
		EventSources []sources.SourceConfig `json:"eventSources"`
	}
	if err := yaml.Unmarshal([]byte(data["event-watcher-config.yaml"]), &file); err != nil || len(file.EventSources) == 0 {
		t.Fatalf("event-watcher-config.yaml %q: %v", data["event-watcher-config.yaml"], err)
	}
	return file.EventSources[0]
}

// tokenEnv is the container's KHOOK_ALERTMANAGER_TOKEN as "secret/key", or "" without one.
func tokenEnv(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(find(objs, "Deployment").Object, "spec", "template", "spec", "containers")
	env, _, _ := unstructured.NestedSlice(containers[0].(map[string]any), "env")
	for _, e := range env {
		e := e.(map[string]any)
		if e["name"] == "KHOOK_ALERTMANAGER_TOKEN" {
			name, _, _ := unstructured.NestedString(e, "valueFrom", "secretKeyRef", "name")
			key, _, _ := unstructured.NestedString(e, "valueFrom", "secretKeyRef", "key")
			return name + "/" + key
		}
	}
	return ""
}

func TestTheChartGuardsAlertmanagersWebhook(t *testing.T) {
	const secret = "khook-alertmanager-webhook-token"
	tests := []struct {
		name  string
		set   []string
		check func(t *testing.T, objs []*unstructured.Unstructured)
	}{
		{"the webhook's bearer token is on by default, from a Secret the chart generates", withAlertmanager(),
			func(t *testing.T, objs []*unstructured.Unstructured) {
				s := findNamed(objs, "Secret", secret)
				if s == nil {
					t.Fatalf("no Secret %s among %v", secret, kindsOf(objs))
				}
				encoded, _, _ := unstructured.NestedString(s.Object, "data", "token")
				token, err := base64.StdEncoding.DecodeString(encoded)
				if err != nil || len(token) < 32 {
					t.Errorf("token %q (%v): want a random one of at least 32 characters", token, err)
				}
				if got := watcherConfig(t, objs).Settings["bearerToken"]; got != "${KHOOK_ALERTMANAGER_TOKEN}" {
					t.Errorf("the source's bearerToken is %v", got)
				}
				if got := tokenEnv(t, objs); got != secret+"/token" {
					t.Errorf("KHOOK_ALERTMANAGER_TOKEN from %q", got)
				}
			}},
		{"two renders generate two tokens (lookup keeps an installed one; see the upgrade test)", withAlertmanager(),
			func(t *testing.T, objs []*unstructured.Unstructured) {
				again, err := helmTemplate(t, withAlertmanager()...)
				if err != nil {
					t.Fatal(err)
				}
				a, _, _ := unstructured.NestedString(findNamed(objs, "Secret", secret).Object, "data", "token")
				b, _, _ := unstructured.NestedString(findNamed(again, "Secret", secret).Object, "data", "token")
				if a == b {
					t.Error("two installs got the same token: it is not random")
				}
			}},
		{"an existing Secret is read, and none generated",
			withAlertmanager("eventSources.alertmanager.bearerToken.existingSecret=am-webhook", "eventSources.alertmanager.bearerToken.key=credentials"),
			func(t *testing.T, objs []*unstructured.Unstructured) {
				if slices.Contains(kindsOf(objs), "Secret") {
					t.Error("a Secret was generated beside the existing one")
				}
				if got := tokenEnv(t, objs); got != "am-webhook/credentials" {
					t.Errorf("KHOOK_ALERTMANAGER_TOKEN from %q", got)
				}
			}},
		{"a bearerToken the settings give is kept as it is",
			withAlertmanager("eventSources.config.eventSources[0].settings.bearerToken=${MY_TOKEN}", "eventSources.secretName=mine"),
			func(t *testing.T, objs []*unstructured.Unstructured) {
				if got := watcherConfig(t, objs).Settings["bearerToken"]; got != "${MY_TOKEN}" || tokenEnv(t, objs) != "" || slices.Contains(kindsOf(objs), "Secret") {
					t.Errorf("bearerToken %v, env %q, kinds %v", got, tokenEnv(t, objs), kindsOf(objs))
				}
			}},
		{"the token may be switched off, and then none is set", withAlertmanager("eventSources.alertmanager.bearerToken.enabled=false"),
			func(t *testing.T, objs []*unstructured.Unstructured) {
				if _, set := watcherConfig(t, objs).Settings["bearerToken"]; set || tokenEnv(t, objs) != "" || slices.Contains(kindsOf(objs), "Secret") {
					t.Errorf("settings %v, env %q, kinds %v", watcherConfig(t, objs).Settings, tokenEnv(t, objs), kindsOf(objs))
				}
			}},
		{"a disabled alertmanager source gets no token",
			withAlertmanager("eventSources.config.eventSources[0].enabled=false"),
			func(t *testing.T, objs []*unstructured.Unstructured) {
				if tokenEnv(t, objs) != "" || slices.Contains(kindsOf(objs), "Secret") {
					t.Errorf("env %q, kinds %v", tokenEnv(t, objs), kindsOf(objs))
				}
			}},
		{"other sources get no token", []string{"eventSources.enabled=true", "eventSources.config.eventSources[0].name=prometheus",
			"eventSources.config.eventSources[0].settings.endpoint=http://prometheus:9090"},
			func(t *testing.T, objs []*unstructured.Unstructured) {
				if _, set := watcherConfig(t, objs).Settings["bearerToken"]; set || tokenEnv(t, objs) != "" || slices.Contains(kindsOf(objs), "Secret") {
					t.Errorf("settings %v, env %q, kinds %v", watcherConfig(t, objs).Settings, tokenEnv(t, objs), kindsOf(objs))
				}
			}},
		{"no NetworkPolicy by default", withAlertmanager(), func(t *testing.T, objs []*unstructured.Unstructured) {
			if slices.Contains(kindsOf(objs), "NetworkPolicy") {
				t.Error("a NetworkPolicy was rendered")
			}
		}},
		{"the NetworkPolicy admits only Alertmanager's namespace to the webhook's port, and all to metrics and probes",
			withAlertmanager("eventSources.alertmanager.networkPolicy.enabled=true"),
			func(t *testing.T, objs []*unstructured.Unstructured) {
				np := find(objs, "NetworkPolicy")
				if np == nil {
					t.Fatalf("no NetworkPolicy among %v", kindsOf(objs))
				}
				if types, _, _ := unstructured.NestedStringSlice(np.Object, "spec", "policyTypes"); !slices.Equal(types, []string{"Ingress"}) {
					t.Errorf("policyTypes %v", types)
				}
				rules, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress")
				var webhookFrom []any
				var open []string
				for _, r := range rules {
					r := r.(map[string]any)
					ports, _, _ := unstructured.NestedSlice(r, "ports")
					from, hasFrom := r["from"]
					for _, p := range ports {
						port := p.(map[string]any)["port"]
						if !hasFrom {
							open = append(open, strings.TrimSpace(toString(port)))
						} else if toString(port) == "9095" {
							webhookFrom = from.([]any)
						}
					}
				}
				if slices.Contains(open, "9095") || !slices.Equal(open, []string{"metrics", "probes"}) {
					t.Errorf("ports open to all: %v, want metrics and probes only", open)
				}
				if len(webhookFrom) != 1 {
					t.Fatalf("the webhook's port admits %v", webhookFrom)
				}
				ns, _, _ := unstructured.NestedStringMap(webhookFrom[0].(map[string]any), "namespaceSelector", "matchLabels")
				if ns["kubernetes.io/metadata.name"] != "monitoring" {
					t.Errorf("the webhook's port admits namespaces %v", ns)
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

func toString(v any) string {
	b, _ := yaml.Marshal(v)
	return strings.TrimSpace(string(b))
}

func TestTheChartRefusesAWebhookPolicyThatGuardsNothing(t *testing.T) {
	tests := []struct {
		name    string
		set     []string
		wantErr string
	}{
		{"a NetworkPolicy without the webhook's port fails, saying why",
			[]string{"eventSources.enabled=true", "eventSources.alertmanager.networkPolicy.enabled=true"}, "needs eventSources.alertmanagerPort"},
		{"a NetworkPolicy admitting every namespace fails, saying why",
			withAlertmanager("eventSources.alertmanager.networkPolicy.enabled=true", "eventSources.alertmanager.networkPolicy.namespaceSelector.matchLabels=null"),
			"selects every namespace"},
		{"a misspelt selector field fails the render",
			withAlertmanager("eventSources.alertmanager.networkPolicy.namespaceSelector.matchLabel.team=x"), "additional properties 'matchLabel' not allowed"},
		{"a token key a Secret cannot have fails", withAlertmanager("eventSources.alertmanager.bearerToken.key=a b"),
			"/eventSources/alertmanager/bearerToken/key"},
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

// TestAnUpgradeKeepsTheGeneratedWebhookToken renders the chart with helm's lookup against the
// API server, as helm upgrade does, where the token Secret of a first install exists.
func TestAnUpgradeKeepsTheGeneratedWebhookToken(t *testing.T) {
	ctx := context.Background()
	if err := client.IgnoreAlreadyExists(k8s.Create(ctx, newNamespaceObject(chartNamespace))); err != nil {
		t.Fatal(err)
	}
	installed := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "khook-alertmanager-webhook-token", Namespace: chartNamespace},
		Data:       map[string][]byte{"token": []byte("the-first-install's-token")},
	}
	if err := k8s.Create(ctx, installed); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), installed) })

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	host := restConfig.Host
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: host, CertificateAuthorityData: restConfig.CAData}
	cfg.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: restConfig.CertData, ClientKeyData: restConfig.KeyData, Token: restConfig.BearerToken}
	cfg.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	cfg.CurrentContext = "envtest"
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	args := []string{"--dry-run=server", "--kubeconfig", kubeconfig}
	for _, s := range withAlertmanager() {
		args = append(args, "--set", s)
	}
	objs, err := helmTemplateArgs(t, args...)
	if err != nil {
		t.Fatalf("helm template --dry-run=server: %v", err)
	}
	s := findNamed(objs, "Secret", installed.Name)
	if s == nil {
		t.Fatalf("no Secret among %v", kindsOf(objs))
	}
	encoded, _, _ := unstructured.NestedString(s.Object, "data", "token")
	if token, _ := base64.StdEncoding.DecodeString(encoded); string(token) != "the-first-install's-token" {
		t.Errorf("the upgrade renders token %q, want the installed one", token)
	}
}
