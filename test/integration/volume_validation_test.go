package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/khook-dev/khook/api/v1alpha2"
)

// createFromYAML creates the object written in doc (apiVersion, kind and metadata.name given)
// in namespace ns, as kubectl apply would send it: untyped, so that values Go types could not
// hold reach the API server too.
func createFromYAML(ns, doc string) error {
	var obj unstructured.Unstructured
	if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
		return fmt.Errorf("reading the test's YAML: %w", err)
	}
	obj.SetNamespace(ns)
	return k8s.Create(context.Background(), &obj)
}

// hookWith is a Hook named name whose one configuration (or spec) has the given extra YAML.
func hookWith(name, configuration, spec string) string {
	return `apiVersion: kagent.dev/v1alpha2
kind: Hook
metadata:
  name: ` + name + `
spec:
  eventConfigurations:
  - eventType: pod-restart
    agentRef: {name: k8s-agent, namespace: kagent}
    prompt: "Pod {{.ResourceName}} restarted"
` + indent(configuration, "    ") + indent(spec, "  ")
}

func indent(s, by string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = by + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestHookSelectorsAndLimitsAreValidatedNamingTheField(t *testing.T) {
	ns := newNamespace(t)
	tests := []struct {
		name                string
		configuration, spec string
		expect              string // "" when the API server accepts it
	}{
		{"a selector with matchLabels and every operator is accepted", `selector:
  matchLabels: {tier: critical, app.kubernetes.io/part-of: shop}
  matchExpressions:
  - {key: env, operator: In, values: [prod, ""]}
  - {key: example.com/zone, operator: NotIn, values: [a]}
  - {key: team, operator: Exists}
  - {key: legacy, operator: DoesNotExist}`, "", ""},
		{"an empty selector is accepted", "selector: {}", "", ""},
		{"a budget and a cooldown are accepted", "", "limits: {maxInvestigationsPerHour: 10, cooldown: 30m}", ""},
		{"a cooldown of 7 days and an empty limits are accepted", "", "limits: {cooldown: 168h}", ""},
		{"a cooldown of 0 is accepted", "", "limits: {cooldown: \"0\"}", ""},
		{"an unknown operator is refused", "selector:\n  matchExpressions: [{key: tier, operator: Equals, values: [x]}]", "",
			`spec.eventConfigurations[0].selector.matchExpressions[0].operator: Unsupported value: "Equals"`},
		{"In without values is refused", "selector:\n  matchExpressions: [{key: tier, operator: In}]", "",
			"spec.eventConfigurations[0].selector.matchExpressions[0]: Invalid value: values must be given for In and NotIn"},
		{"Exists with values is refused", "selector:\n  matchExpressions: [{key: tier, operator: Exists, values: [x]}]", "",
			"spec.eventConfigurations[0].selector.matchExpressions[0]: Invalid value: values must be given for In and NotIn, and left out for Exists"},
		{"a key that is not a label key is refused", "selector:\n  matchExpressions: [{key: \"bad key\", operator: Exists}]", "",
			"spec.eventConfigurations[0].selector.matchExpressions[0].key: Invalid value: \"bad key\""},
		{"a value longer than 63 characters is refused", "selector:\n  matchExpressions: [{key: a, operator: In, values: [" + strings.Repeat("v", 64) + "]}]", "",
			"spec.eventConfigurations[0].selector.matchExpressions[0].values[0]: Too long: may not be more than 63"},
		{"a matchLabels value that is not a label value is refused", "selector:\n  matchLabels: {tier: \"-x\"}", "",
			"spec.eventConfigurations[0].selector.matchLabels.tier: Invalid value: \"-x\""},
		{"a matchLabels key that is not a label key is refused", "selector:\n  matchLabels: {\"bad key\": x}", "",
			"spec.eventConfigurations[0].selector.matchLabels: Invalid value: each key must be a label key"},
		{"33 matchLabels are refused", "selector:\n  matchLabels: {" + manyLabels(33) + "}", "",
			"spec.eventConfigurations[0].selector.matchLabels: Too many: 33: must have at most 32 items"},
		{"a budget of 0 is refused", "", "limits: {maxInvestigationsPerHour: 0}",
			"spec.limits.maxInvestigationsPerHour: Invalid value: 0: spec.limits.maxInvestigationsPerHour in body should be greater than or equal to 1"},
		{"a budget above 10000 is refused", "", "limits: {maxInvestigationsPerHour: 10001}",
			"spec.limits.maxInvestigationsPerHour: Invalid value: 10001"},
		{"a cooldown in days is refused", "", "limits: {cooldown: 1d}",
			`spec.limits.cooldown: Invalid value: "1d": spec.limits.cooldown in body should match`},
		{"a negative cooldown is refused", "", "limits: {cooldown: -5m}", `spec.limits.cooldown: Invalid value: "-5m"`},
		{"a cooldown longer than 7 days is refused", "", "limits: {cooldown: 169h}",
			`spec.limits.cooldown: Invalid value: "169h": cooldown must be at most 168h (7 days)`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := createFromYAML(ns, hookWith(fmt.Sprintf("h%d", i), tt.configuration, tt.spec))
			switch {
			case tt.expect == "" && err != nil:
				t.Fatalf("the API server refused a valid Hook: %v", err)
			case tt.expect != "" && (err == nil || !strings.Contains(err.Error(), tt.expect)):
				t.Fatalf("Create error = %v\nwant it to contain %q", err, tt.expect)
			}
		})
	}
}

func manyLabels(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("k%d: v", i)
	}
	return strings.Join(parts, ", ")
}

// silence is a Silence named name with the given spec (YAML, below spec:).
func silence(name, spec string) string {
	return "apiVersion: kagent.dev/v1alpha2\nkind: Silence\nmetadata:\n  name: " + name + "\nspec:\n" + indent(spec, "  ")
}

func TestSilencesAreValidatedNamingTheField(t *testing.T) {
	ns := newNamespace(t)
	const window = "startsAt: 2026-03-01T22:00:00Z\nendsAt: 2026-03-02T02:00:00Z\n"
	tests := []struct {
		name   string
		spec   string
		expect string
	}{
		{"a maintenance window with every matcher is accepted", window + `comment: node pool upgrade, CHG-1234
matchers:
  eventType: "pod-*"
  hook: "*-prod"
  subjectKind: Deployment
  subjectName: "checkout*"
  selector: {matchLabels: {tier: critical}}`, ""},
		{"an empty matchers silences the namespace and is accepted", window + "matchers: {}", ""},
		{"a Silence of exactly 30 days is accepted", "matchers: {}\nstartsAt: 2026-03-01T00:00:00Z\nendsAt: 2026-03-31T00:00:00Z", ""},
		{"a Silence without matchers is refused", window, "spec.matchers: Required value"},
		{"a Silence without startsAt is refused", "matchers: {}\nendsAt: 2026-03-02T02:00:00Z", "spec.startsAt: Required value"},
		{"a Silence without endsAt is refused", "matchers: {}\nstartsAt: 2026-03-02T02:00:00Z", "spec.endsAt: Required value"},
		{"an end before the start is refused", "matchers: {}\nstartsAt: 2026-03-02T02:00:00Z\nendsAt: 2026-03-01T22:00:00Z",
			"spec.endsAt: Invalid value: endsAt must be after startsAt"},
		{"an end equal to the start is refused", "matchers: {}\nstartsAt: 2026-03-02T02:00:00Z\nendsAt: 2026-03-02T02:00:00Z",
			"spec.endsAt: Invalid value: endsAt must be after startsAt"},
		{"an end more than 30 days after the start is refused", "matchers: {}\nstartsAt: 2026-03-01T00:00:00Z\nendsAt: 2026-03-31T00:00:01Z",
			"spec.endsAt: Invalid value: endsAt must be at most 30 days (720h) after startsAt"},
		{"a comment longer than 256 characters is refused", window + "matchers: {}\ncomment: " + strings.Repeat("x", 257),
			"spec.comment: Too long: may not be more than 256"},
		{"an event type glob with upper-case letters is refused", window + "matchers: {eventType: Pod-*}", `spec.matchers.eventType: Invalid value: "Pod-*"`},
		{"a hook glob longer than 253 characters is refused", window + "matchers: {hook: " + strings.Repeat("h", 254) + "}", "spec.matchers.hook: Too long: may not be more than 253"},
		{"a subject kind with a dash is refused", window + "matchers: {subjectKind: Stateful-Set}", `spec.matchers.subjectKind: Invalid value: "Stateful-Set"`},
		{"a subject name longer than 253 characters is refused", window + "matchers: {subjectName: " + strings.Repeat("s", 254) + "}", "spec.matchers.subjectName: Too long: may not be more than 253"},
		{"a bad selector operator is refused", window + "matchers: {selector: {matchExpressions: [{key: tier, operator: Gt, values: [\"1\"]}]}}",
			`spec.matchers.selector.matchExpressions[0].operator: Unsupported value: "Gt"`},
		{"a start that is not a time is refused", "matchers: {}\nstartsAt: tonight\nendsAt: 2026-03-02T02:00:00Z", "spec.startsAt"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := createFromYAML(ns, silence(fmt.Sprintf("s%d", i), tt.spec))
			switch {
			case tt.expect == "" && err != nil:
				t.Fatalf("the API server refused a valid Silence: %v", err)
			case tt.expect != "" && (err == nil || !strings.Contains(err.Error(), tt.expect)):
				t.Fatalf("Create error = %v\nwant it to contain %q", err, tt.expect)
			}
		})
	}
}

// silenceTable asks the API server for the Silences of ns as kubectl get would show them.
func silenceTable(t *testing.T, ns string) metav1.Table {
	t.Helper()
	cs, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	body, err := cs.CoreV1().RESTClient().Get().AbsPath("/apis/kagent.dev/v1alpha2/namespaces", ns, "silences").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(context.Background())
	if err != nil {
		t.Fatalf("listing silences as a table: %v", err)
	}
	var table metav1.Table
	if err := json.Unmarshal(body, &table); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return table
}

func TestKubectlGetSilencesShowsWhenTheyStartAndEndWhetherActiveHowManyHeldAndWhy(t *testing.T) {
	ns := newNamespace(t)
	start := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	s := &v1alpha2.Silence{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "maintenance"},
		Spec: v1alpha2.SilenceSpec{
			Matchers: v1alpha2.SilenceMatchers{SubjectKind: "Deployment", SubjectName: "checkout*"},
			StartsAt: metav1.NewTime(start), EndsAt: metav1.NewTime(start.Add(4 * time.Hour)),
			Comment: "node pool upgrade",
		},
	}
	create(t, s)
	s.Status.HeldIncidents = 3
	meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{Type: "Active", Status: metav1.ConditionTrue, Reason: "Active", Message: "holds incidents until 2026-03-02T02:00:00Z"})
	if err := k8s.Status().Update(context.Background(), s); err != nil {
		t.Fatalf("writing the status: %v", err)
	}
	// The short name and category find it as kubectl would.
	var list v1alpha2.SilenceList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil || len(list.Items) != 1 {
		t.Fatalf("listing silences: %v (%d)", err, len(list.Items))
	}

	table := silenceTable(t, ns)
	if len(table.Rows) != 1 {
		t.Fatalf("rows = %d, want 1", len(table.Rows))
	}
	cells := map[string]any{}
	var names []string
	for i, c := range table.ColumnDefinitions {
		cells[c.Name] = table.Rows[0].Cells[i]
		names = append(names, c.Name)
	}
	if want := []string{"Name", "Starts", "Ends", "Active", "Held", "Comment", "Age"}; !slices.Equal(names, want) {
		t.Fatalf("columns = %v, want %v", names, want)
	}
	want := map[string]string{"Name": "maintenance", "Starts": "2026-03-01T22:00:00Z", "Ends": "2026-03-02T02:00:00Z",
		"Active": "True", "Held": "3", "Comment": "node pool upgrade"}
	for k, w := range want {
		if got := fmt.Sprint(cells[k]); got != w {
			t.Errorf("%s = %q, want %q", k, got, w)
		}
	}
}

// yamlBlocks returns the ```yaml blocks of a Markdown file.
func yamlBlocks(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// dedent removes the indentation of the block's first line from every line.
func dedent(block string) string {
	first := strings.SplitN(block, "\n", 2)[0]
	by := first[:len(first)-len(strings.TrimLeft(first, " "))]
	lines := strings.Split(block, "\n")
	for i := range lines {
		lines[i] = strings.TrimPrefix(lines[i], by)
	}
	return strings.Join(lines, "\n")
}

func TestTheVolumeGuidesExamplesPassValidation(t *testing.T) {
	ns := newNamespace(t)
	t.Cleanup(func() { _ = k8s.DeleteAllOf(context.Background(), &v1alpha2.Silence{}, client.InNamespace(ns)) })
	blocks := yamlBlocks(t, filepath.Join("..", "..", "docs", "volume.md"))
	kinds := map[string]int{}
	for i, block := range blocks {
		doc := dedent(block)
		switch {
		case strings.Contains(doc, "\nkind: "): // a whole object
		case strings.HasPrefix(doc, "- eventType:"): // a configuration
			doc = "apiVersion: kagent.dev/v1alpha2\nkind: Hook\nmetadata:\n  name: configuration\nspec:\n  eventConfigurations:\n" + indent(doc, "  ")
		case strings.HasPrefix(doc, "spec:\n  limits:"): // a Hook's limits
			doc = hookWith("limits", "", strings.TrimPrefix(doc, "spec:\n  "))
		default:
			t.Fatalf("block %d of docs/volume.md is neither an object, a configuration nor limits:\n%s", i, block)
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("block %d: %v\n%s", i, err, doc)
		}
		kinds[fmt.Sprint(obj["kind"])]++
		name := fmt.Sprintf("%s-%d", obj["metadata"].(map[string]any)["name"], i)
		doc = strings.Replace(doc, "  name: "+fmt.Sprint(obj["metadata"].(map[string]any)["name"])+"\n", "  name: "+name+"\n", 1)
		if err := createFromYAML(ns, doc); err != nil {
			t.Errorf("block %d of docs/volume.md is refused: %v\n%s", i, err, doc)
		}
	}
	if kinds["Hook"] < 3 || kinds["Silence"] < 2 {
		t.Fatalf("docs/volume.md shows %v; want its Hooks (the worked example, a selector, limits) and Silences", kinds)
	}
}
