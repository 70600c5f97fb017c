package integration

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/khook-dev/khook/adapters/sources"
	"github.com/khook-dev/khook/test/alerting"
	"github.com/khook-dev/khook/test/echoagent"
)

// readmeSection returns the README's text from the heading to the next heading of its level.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, found := strings.Cut(string(data), "\n"+heading+"\n")
	if !found {
		t.Fatalf("README.md has no %q", heading)
	}
	if end := strings.Index(rest, "\n## "); end >= 0 {
		rest = rest[:end]
	}
	return rest
}

var fencedBlock = regexp.MustCompile("(?s)```(\\w+)\\n(.*?)```")

// codeBlock returns the one fenced block of lang in text that contains marker.
func codeBlock(t *testing.T, text, lang, marker string) string {
	t.Helper()
	var found []string
	for _, m := range fencedBlock.FindAllStringSubmatch(text, -1) {
		if m[1] == lang && strings.Contains(m[2], marker) {
			found = append(found, m[2])
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s blocks containing %q, want 1", len(found), lang, marker)
	}
	return found[0]
}

func objectNamed(objs []*unstructured.Unstructured, kind, suffix string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && strings.HasSuffix(o.GetName(), suffix) {
			return o
		}
	}
	return nil
}

// TestTheREADMEsAlertsFromAlertmanagerWork follows the README's "Alerts from Alertmanager" as
// a user would: its Helm values render a webhook Service, which is what its Alertmanager
// receiver (and docs/sources.md's) points at; khook runs the configuration the chart renders;
// the README's Hook is accepted; the real Alertmanager, configured with the README's receiver,
// and the README's curl each make the Hook's agent investigate.
func TestTheREADMEsAlertsFromAlertmanagerWork(t *testing.T) {
	section := readmeSection(t, "## Alerts from Alertmanager")
	values := codeBlock(t, section, "yaml", "alertmanagerPort")
	receiver := codeBlock(t, section, "yaml", "webhook_configs")
	curl := codeBlock(t, section, "sh", "curl")

	// 1. The values render a webhook Service; the receivers point at it.
	valuesFile := filepath.Join(t.TempDir(), "alertmanager-values.yaml")
	if err := os.WriteFile(valuesFile, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	objs, err := helmTemplateArgs(t, "-f", valuesFile)
	if err != nil {
		t.Fatalf("helm template -f <the README's values>: %v", err)
	}
	svc := objectNamed(objs, "Service", "-alertmanager-webhook")
	if svc == nil {
		t.Fatalf("the README's values render no alertmanager-webhook Service: %v", kindsOf(objs))
	}
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	portField, _, _ := unstructured.NestedFieldNoCopy(ports[0].(map[string]any), "port")
	port, err := strconv.Atoi(fmt.Sprint(portField))
	if err != nil {
		t.Fatalf("the Service's port %v: %v", portField, err)
	}
	url := fmt.Sprintf("http://%s.%s.svc:%d/webhook", svc.GetName(), chartNamespace, port)
	if !strings.Contains(receiver, "url: "+url+"\n") {
		t.Errorf("the README's receiver does not post to the chart's Service %s:\n%s", url, receiver)
	}
	docs, err := os.ReadFile(filepath.Join("..", "..", "docs", "sources.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(docs, []byte("url: "+url+" ")) {
		t.Errorf("docs/sources.md's Alertmanager configuration does not post to %s", url)
	}
	if !strings.Contains(curl, "svc/"+svc.GetName()+" ") {
		t.Errorf("the README's port-forward does not name the Service %s:\n%s", svc.GetName(), curl)
	}

	// 2. khook runs the configuration the chart renders, on a free port of the test's.
	cm := objectNamed(objs, "ConfigMap", "-event-sources")
	if cm == nil {
		t.Fatalf("the README's values render no event-sources ConfigMap: %v", kindsOf(objs))
	}
	files, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	dir := t.TempDir()
	listen := "127.0.0.1:" + strconv.Itoa(alerting.FreePort(t))
	for name, content := range files {
		if name == "event-watcher-config.yaml" {
			if !strings.Contains(content, fmt.Sprintf(`listenAddress: :%d`, port)) {
				t.Fatalf("the receiver does not listen on the Service's port %d:\n%s", port, content)
			}
			content = strings.Replace(content, fmt.Sprintf(":%d", port), listen, 1)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The token, as the Pod gets it: the chart's Secret, through the variable the Deployment sets.
	secret := objectNamed(objs, "Secret", "-alertmanager-webhook-token")
	if secret == nil {
		t.Fatalf("the README's values render no token Secret: the webhook would take posts from anyone: %v", kindsOf(objs))
	}
	encoded, _, _ := unstructured.NestedString(secret.Object, "data", "token")
	token, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil || len(token) == 0 {
		t.Fatalf("the Secret's token %q: %v", encoded, err)
	}
	if got := tokenEnv(t, objs); got != secret.GetName()+"/token" {
		t.Fatalf("the Deployment takes KHOOK_ALERTMANAGER_TOKEN from %q, not the Secret %s", got, secret.GetName())
	}
	if !strings.Contains(section, "get secret "+secret.GetName()+" ") {
		t.Errorf("the README does not say how to read the Secret %s", secret.GetName())
	}
	env := func(name string) (string, bool) {
		if name == "KHOOK_ALERTMANAGER_TOKEN" {
			return string(token), true
		}
		return "", false
	}
	cfg, err := sources.LoadConfig(filepath.Join(dir, "event-watcher-config.yaml"), env)
	if err != nil {
		t.Fatalf("khook refuses the chart's event-watcher-config.yaml: %v", err)
	}
	agent := startAgent(t, echoagent.Options{})
	opts := fastOptions(agent.URL)
	opts.EventSources = cfg
	startKhook(t, opts)

	// 3. The README's Hook, in a namespace of the test's: alerts labelled with it call its agent.
	ns := newNamespace(t)
	hook, _ := readHook(t, filepath.Join("..", "testdata", "hooks", "valid", "alerts.yaml"), ns)
	if !strings.Contains(section, "kubectl apply -f test/testdata/hooks/valid/alerts.yaml") {
		t.Fatal("the README's section does not apply test/testdata/hooks/valid/alerts.yaml")
	}
	create(t, hook)
	if c := waitAccepted(t, ns, hook.Name); c.Status != metav1.ConditionTrue {
		t.Fatalf("the README's Hook is not accepted: %+v", c)
	}
	agentName := hook.Spec.EventConfigurations[0].AgentRef.Namespace + "/" + hook.Spec.EventConfigurations[0].AgentRef.Name

	// 4a. The README's curl, posted as it is but for the namespace label.
	body := regexp.MustCompile(`(?s)-d '(.*?)'`).FindStringSubmatch(curl)
	if body == nil {
		t.Fatalf("no -d '…' body in the README's curl:\n%s", curl)
	}
	payload := strings.Replace(body[1], `"namespace":"default"`, strconv.Quote("namespace")+":"+strconv.Quote(ns), 1)
	if !strings.Contains(curl, `-H "Authorization: Bearer $token"`) {
		t.Fatalf("the README's curl sends no bearer token:\n%s", curl)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+listen+"/webhook", strings.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+string(token))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the README's curl is answered %d", resp.StatusCode)
	}
	got := received(t, agent, agentName, 1)[0]
	if !strings.Contains(got.Text, "HighLatency") || !strings.Contains(got.Text, "summary=p99 latency above 1s") {
		t.Errorf("the agent received %q, want the alert's name and annotations", got.Text)
	}

	// 4b. The real Alertmanager with the README's receiver (the URL is the test's listener, and
	// the route waits a second rather than Alertmanager's default 30 s before it notifies).
	// Its credentials_file is the Secret the README copies, written where the test's Alertmanager
	// reads it.
	const credentials = "credentials_file: /etc/alertmanager/secrets/khook-webhook-token/token"
	if !strings.Contains(receiver, credentials) {
		t.Fatalf("the README's receiver does not read the token from the Secret it mounts:\n%s", receiver)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, token, 0o600); err != nil {
		t.Fatal(err)
	}
	amConfig := strings.Replace(receiver, url, "http://"+listen+"/webhook", 1)
	amConfig = strings.Replace(amConfig, credentials, "credentials_file: "+tokenFile, 1)
	amConfig = strings.Replace(amConfig, "group_by: ['...']", "group_by: ['...']\n      group_wait: 1s", 1)
	am := alerting.StartAlertmanagerWithConfig(t, amConfig)
	am.Post(t, alerting.Alert{
		Labels:      map[string]string{"alertname": "KhookReadmeAlert", "namespace": ns, "severity": "critical"},
		Annotations: map[string]string{"summary": "from the real Alertmanager"},
		StartsAt:    time.Now().Add(-time.Minute),
	})
	eventually(t, 30*time.Second, func() error {
		for _, r := range agent.ReceivedBy(agentName) {
			if strings.Contains(r.Text, "KhookReadmeAlert") {
				return nil
			}
		}
		return fmt.Errorf("%s has not been told of the alert Alertmanager routed", agentName)
	})
}
