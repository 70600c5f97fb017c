package metrics

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestTheDashboardPlotsEveryMetricAndOnlyThese reads the Grafana dashboard the chart ships
// and checks its queries against the metrics this package registers: a query on a metric that
// does not exist shows an empty panel, and a metric no panel shows is one nobody sees.
func TestTheDashboardPlotsEveryMetricAndOnlyThese(t *testing.T) {
	m, reg := newMetrics(t)
	touchEverySeries(m)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	for _, f := range families {
		if !strings.HasPrefix(f.GetHelp(), "Deprecated") {
			registered[f.GetName()] = true
		}
	}

	paths, err := filepath.Glob(filepath.Join("..", "..", "charts", "khook", "dashboards", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no dashboards under charts/khook/dashboards (%v)", err)
	}
	queried := map[string]bool{}
	name := regexp.MustCompile(`khook_[a-z_]+`)
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var dash struct {
			Title  string            `json:"title"`
			UID    string            `json:"uid"`
			Panels []json.RawMessage `json:"panels"`
		}
		if err := json.Unmarshal(data, &dash); err != nil {
			t.Fatalf("%s is not JSON: %v", path, err)
		}
		if dash.Title == "" || dash.UID == "" || len(dash.Panels) == 0 {
			t.Fatalf("%s lacks a title, uid or panels", path)
		}
		var exprs []string
		collectExprs(t, data, &exprs)
		for _, expr := range exprs {
			for _, n := range name.FindAllString(expr, -1) {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if base, ok := strings.CutSuffix(n, suffix); ok && registered[base] {
						n = base
					}
				}
				if !registered[n] {
					t.Errorf("%s queries %s, which package metrics does not register: %s", filepath.Base(path), n, expr)
				}
				queried[n] = true
			}
		}
	}
	var unplotted []string
	for n := range registered {
		if !queried[n] {
			unplotted = append(unplotted, n)
		}
	}
	slices.Sort(unplotted)
	if len(unplotted) > 0 {
		t.Errorf("no dashboard panel shows %v", unplotted)
	}
}

// collectExprs finds every "expr" string anywhere in a dashboard.
func collectExprs(t *testing.T, data []byte, out *[]string) {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				if s, ok := child.(string); ok && k == "expr" {
					*out = append(*out, s)
				}
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(v)
}

// TestTheOperationsGuideDescribesEveryMetric looks for each metric this package registers in
// the metrics table of docs/operations.md, and for each name of that table here.
func TestTheOperationsGuideDescribesEveryMetric(t *testing.T) {
	m, reg := newMetrics(t)
	touchEverySeries(m)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	guide, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(khook_[a-z_]+)` \\|").FindAllSubmatch(guide, -1) {
		rows[string(m[1])] = true
	}
	for _, f := range families {
		name := f.GetName()
		deprecated := strings.HasPrefix(f.GetHelp(), "Deprecated")
		switch {
		case deprecated && !strings.Contains(string(guide), "`"+name+"{") && !strings.Contains(string(guide), "`"+name+"`"):
			t.Errorf("docs/operations.md does not mention the deprecated %s", name)
		case !deprecated && !rows[name]:
			t.Errorf("docs/operations.md's metrics table has no row for %s", name)
		}
		delete(rows, name)
	}
	for name := range rows {
		t.Errorf("docs/operations.md describes %s, which package metrics does not register", name)
	}
}
