package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/khook-dev/khook/test/echoagent"
)

// hookTable asks the API server for the Hooks of ns as kubectl get would show them.
func hookTable(t *testing.T, ns string) metav1.Table {
	t.Helper()
	cs, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	body, err := cs.CoreV1().RESTClient().Get().AbsPath("/apis/kagent.dev/v1alpha2/namespaces", ns, "hooks").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(context.Background())
	if err != nil {
		t.Fatalf("listing hooks as a table: %v", err)
	}
	var table metav1.Table
	if err := json.Unmarshal(body, &table); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return table
}

func TestKubectlGetHooksShowsEventTypesFiringEventsAndAcceptance(t *testing.T) {
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	startKhook(t, fastOptions(agent.URL))
	create(t, newHook(ns, "restarts", "k8s-agent", restartPrompt, "pod-restart", "oom-kill"))
	waitAccepted(t, ns, "restarts")
	create(t, backOffEvent(ns, "web-1"))
	received(t, agent, "kagent/k8s-agent", 1)

	var cells map[string]any
	eventually(t, 10*time.Second, func() error {
		table := hookTable(t, ns)
		if len(table.Rows) != 1 {
			return fmt.Errorf("rows = %d", len(table.Rows))
		}
		cells = map[string]any{}
		var names []string
		for i, c := range table.ColumnDefinitions {
			cells[c.Name] = table.Rows[0].Cells[i]
			names = append(names, c.Name)
		}
		if want := []string{"Name", "Event Types", "Firing", "Accepted", "Delivering", "Last Updated", "Age"}; !slices.Equal(names, want) {
			return fmt.Errorf("columns = %v, want %v", names, want)
		}
		if fmt.Sprint(cells["Firing"]) != "1" || cells["Delivering"] != "True" {
			return fmt.Errorf("Firing = %v, Delivering = %v; want 1 and True", cells["Firing"], cells["Delivering"])
		}
		return nil
	})
	if cells["Accepted"] != "True" || cells["Event Types"] == "" {
		t.Fatalf("row = %v", cells)
	}
}
