package integration

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// renderedChart reads the objects of a chart manifest `make chart` rendered; env names the
// variable holding its path.
func renderedChart(t *testing.T, env string) []*unstructured.Unstructured {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set; `make test` renders the chart and sets it", env)
		}
		t.Skipf("%s is not set; run `make test` to render the chart", env)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := decoder.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("reading %s: %v", path, err)
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
	return objs
}

// TestTheChartWithEveryOptionIsAcceptedByTheAPIServer sends every object of the chart,
// rendered with test/testdata/chart/all-options.yaml, to the API server as a strict
// server-side dry run: the API server's validation, defaulting and admission (and, for the
// ServiceMonitor, the CRD's schema) judge it, and an unknown field is an error.
func TestTheChartWithEveryOptionIsAcceptedByTheAPIServer(t *testing.T) {
	objs := renderedChart(t, "KHOOK_CHART_ALL_MANIFEST")
	if _, err := envtest.InstallCRDs(restConfig, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join("..", "testdata", "crds")}, ErrorIfPathMissing: true,
	}); err != nil {
		t.Fatalf("installing the ServiceMonitor CRD: %v", err)
	}
	for _, ns := range []string{chartNamespace, "monitoring"} {
		if err := client.IgnoreAlreadyExists(k8s.Create(context.Background(), newNamespaceObject(ns))); err != nil {
			t.Fatal(err)
		}
	}
	var kinds []string
	for _, obj := range objs {
		kinds = append(kinds, obj.GetKind())
		t.Run(obj.GetKind()+"/"+obj.GetName(), func(t *testing.T) {
			err := k8s.Create(context.Background(), obj.DeepCopy(), client.DryRunAll, client.FieldValidation("Strict"))
			if err != nil {
				t.Fatalf("the API server refuses %s %s/%s: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
			}
		})
	}
	slices.Sort(kinds)
	// Two ClusterRoles (khook's, the metrics reader), two ConfigMaps (dashboards, event sources),
	// two Services (metrics, Alertmanager webhook), the webhook's token Secret and NetworkPolicy,
	// and the agent policy's admission policy.
	want := []string{"ClusterRole", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "ConfigMap", "Deployment", "NetworkPolicy", "PodDisruptionBudget",
		"Role", "RoleBinding", "Secret", "Service", "Service", "ServiceAccount", "ServiceMonitor", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
	if !slices.Equal(kinds, want) {
		t.Errorf("with every option on the chart renders %v, want %v", kinds, want)
	}
}

// TestTheChartGrantsNothingClusterAdmin checks the RBAC of both renders: no wildcard verbs,
// resources or groups, no binding to an existing powerful role, no secrets.
func TestTheChartGrantsNothingClusterAdmin(t *testing.T) {
	for _, env := range []string{"KHOOK_CHART_MANIFEST", "KHOOK_CHART_ALL_MANIFEST"} {
		t.Run(env, func(t *testing.T) {
			for _, obj := range renderedChart(t, env) {
				switch obj.GetKind() {
				case "ClusterRole", "Role":
					var role rbacv1.ClusterRole // Role has the same rules
					if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &role); err != nil {
						t.Fatal(err)
					}
					for _, r := range role.Rules {
						for _, v := range slices.Concat(r.Verbs, r.Resources, r.APIGroups, r.NonResourceURLs) {
							if v == "*" {
								t.Errorf("%s %s grants a wildcard: %+v", obj.GetKind(), obj.GetName(), r)
							}
						}
						if slices.Contains(r.Resources, "secrets") || slices.Contains(r.Verbs, "escalate") || slices.Contains(r.Verbs, "bind") || slices.Contains(r.Verbs, "impersonate") {
							t.Errorf("%s %s grants more than khook needs: %+v", obj.GetKind(), obj.GetName(), r)
						}
					}
				case "ClusterRoleBinding", "RoleBinding":
					var binding rbacv1.RoleBinding
					if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &binding); err != nil {
						t.Fatal(err)
					}
					if slices.Contains([]string{"cluster-admin", "admin", "edit"}, binding.RoleRef.Name) {
						t.Errorf("%s %s binds %s", obj.GetKind(), obj.GetName(), binding.RoleRef.Name)
					}
				}
			}
		})
	}
}
