package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/test/echoagent"
)

// The chart is rendered by `make chart` as release "khook" in namespace "kagent".
const (
	chartNamespace      = "kagent"
	chartServiceAccount = "system:serviceaccount:kagent:khook"
)

// applyChartRBAC creates the ServiceAccount and RBAC objects of the rendered chart.
func applyChartRBAC(t *testing.T) {
	t.Helper()
	path := os.Getenv("KHOOK_CHART_MANIFEST")
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("KHOOK_CHART_MANIFEST is not set; `make test` renders the chart and sets it")
		}
		t.Skip("KHOOK_CHART_MANIFEST is not set; run `make test` to render the chart")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.IgnoreAlreadyExists(k8s.Create(context.Background(), newNamespaceObject(chartNamespace))); err != nil {
		t.Fatal(err)
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	applied := map[string]int{}
	for {
		var obj unstructured.Unstructured
		if err := decoder.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("reading %s: %v", path, err)
		}
		switch obj.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			if err := client.IgnoreAlreadyExists(k8s.Create(context.Background(), &obj)); err != nil {
				t.Fatalf("applying %s %s: %v", obj.GetKind(), obj.GetName(), err)
			}
			applied[obj.GetKind()]++
		}
	}
	if len(applied) != 5 {
		t.Fatalf("the chart rendered %v; want a ServiceAccount, ClusterRole(Binding) and Role(Binding)", applied)
	}
}

func TestTheChartsRBACIsEnoughToRunKhook(t *testing.T) {
	applyChartRBAC(t)
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	asChart := rest.CopyConfig(restConfig)
	asChart.Impersonate = rest.ImpersonationConfig{
		UserName: chartServiceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + chartNamespace, "system:authenticated"},
	}
	c := startManagerWithConfig(t, asChart, fastOptions(agent.URL), func(o *ctrl.Options) {
		o.LeaderElection = true
		o.LeaderElectionID = "khook-rbac-test"
		o.LeaderElectionNamespace = chartNamespace
		o.LeaderElectionReleaseOnCancel = true
	})
	c.waitReady(t)
	// client-go's leader election records "... became leader" as a core v1 Event on the Lease.
	eventually(t, 15*time.Second, func() error {
		var list corev1.EventList
		if err := k8s.List(context.Background(), &list, client.InNamespace(chartNamespace)); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.InvolvedObject.Kind == "Lease" && e.InvolvedObject.Name == "khook-rbac-test" && e.Reason == "LeaderElection" {
				return nil
			}
		}
		return fmt.Errorf("no LeaderElection Event about Lease khook-rbac-test in %s: may the chart's service account create core v1 events there?", chartNamespace)
	})

	create(t, newHook(ns, "restarts", "k8s-agent", restartPrompt, "pod-restart"))
	if cond := waitAccepted(t, ns, "restarts"); cond.Status != metav1.ConditionTrue { // hooks/status update
		t.Fatalf("Accepted = %+v", cond)
	}
	create(t, backOffEvent(ns, "web-1")) // events list/watch
	received(t, agent, "kagent/k8s-agent", 1)
	eventually(t, 10*time.Second, func() error {
		st := hookStatus(t, ns, "restarts")
		if len(st.ActiveEvents) != 1 || st.ActiveEvents[0].NotifiedAt == nil {
			return fmt.Errorf("status = %+v", st.ActiveEvents)
		}
		if len(auditReasons(t, ns, "restarts")) == 0 { // events create
			return fmt.Errorf("no audit Events recorded as the chart's service account")
		}
		return nil
	})
	// namespaces get/list/watch: the Namespace's agent allow-list reaches the Hook.
	annotateNamespace(t, ns, ptr.To("@self"))
	waitAcceptedSays(t, ns, "restarts", "spec.eventConfigurations[0].agentRef: agent kagent/k8s-agent is not allowed for namespace "+ns+
		": namespace "+ns+"'s annotation kagent.dev/allowed-agent-namespaces allows @self")
}
