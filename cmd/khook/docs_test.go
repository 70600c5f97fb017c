package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func repoFile(t *testing.T, path ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(append([]string{"..", ".."}, path...)...))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// tableRows returns the rows of the first Markdown table under heading, split into cells.
func tableRows(t *testing.T, doc []byte, heading string) [][]string {
	t.Helper()
	var rows [][]string
	in, table := false, false
	scanner := bufio.NewScanner(bytes.NewReader(doc))
	for scanner.Scan() {
		line := scanner.Text()
		if strings.HasPrefix(line, "#") {
			if in && table {
				break
			}
			in = strings.TrimSpace(strings.TrimLeft(line, "#")) == heading
			continue
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if table {
				break
			}
			continue
		}
		table = true
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if strings.HasPrefix(cells[0], "---") {
			continue
		}
		rows = append(rows, cells)
	}
	if len(rows) < 2 {
		t.Fatalf("no table under %q", heading)
	}
	return rows[1:] // the header is not a row
}

var backticked = regexp.MustCompile("`([^`]*)`")

// firstCode is the first `code` of a cell, and whether there is one.
func firstCode(cell string) (string, bool) {
	m := backticked.FindStringSubmatch(cell)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// docFlags is docs/configuration.md's flag table, by flag name.
func docFlags(t *testing.T) map[string][]string {
	t.Helper()
	rows := map[string][]string{}
	for _, cells := range tableRows(t, repoFile(t, "docs", "configuration.md"), "Flags") {
		if len(cells) != 5 {
			t.Fatalf("flag row %v has %d cells, want 5 (flag, default, environment, Helm value, what it does)", cells, len(cells))
		}
		name, ok := firstCode(cells[0])
		if !ok || !strings.HasPrefix(name, "--") {
			t.Fatalf("flag row %v does not start with a `--flag`", cells)
		}
		name = strings.TrimPrefix(name, "--")
		if _, dup := rows[name]; dup {
			t.Errorf("--%s has two rows", name)
		}
		rows[name] = cells
	}
	return rows
}

func TestTheConfigurationReferenceCoversEveryFlag(t *testing.T) {
	rows := docFlags(t)
	var c config
	fs, err := newFlagSet(&c, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	values := valuesPaths(t)
	deployment := string(repoFile(t, "charts", "khook", "templates", "deployment.yaml"))
	fs.VisitAll(func(f *flag.Flag) {
		cells, ok := rows[f.Name]
		if !ok {
			t.Errorf("--%s is missing from docs/configuration.md's flag table", f.Name)
			return
		}
		delete(rows, f.Name)

		// The default: "—" for an empty one, else the first `code`, read as the flag reads it.
		def := cells[1]
		switch doc, ok := firstCode(def); {
		case f.DefValue == "":
			if !strings.HasPrefix(def, "—") {
				t.Errorf("--%s has no default; the row should say — and what happens then, not %q", f.Name, def)
			}
		case !ok || strings.HasPrefix(def, "—"):
			t.Errorf("--%s defaults to %q; the row says %q", f.Name, f.DefValue, def)
		default:
			probe, err := newFlagSet(&config{}, func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			if err := probe.Set(f.Name, doc); err != nil {
				t.Errorf("--%s: the documented default %q is not a valid value: %v", f.Name, doc, err)
			} else if got := probe.Lookup(f.Name).Value.String(); got != f.DefValue {
				t.Errorf("--%s defaults to %q; the row says %q", f.Name, f.DefValue, doc)
			}
		}

		// The Helm column: values that exist and a chart that passes the flag, or — and why.
		helm := cells[3]
		named := backticked.FindAllStringSubmatch(helm, -1)
		if strings.HasPrefix(helm, "—") {
			if len(strings.Fields(helm)) < 3 {
				t.Errorf("--%s: say why the chart has no value for it, not just %q", f.Name, helm)
			}
			return
		}
		if len(named) == 0 {
			t.Errorf("--%s: the Helm column names no value and does not start with —: %q", f.Name, helm)
			return
		}
		for _, m := range named {
			if !values[m[1]] {
				t.Errorf("--%s: the Helm column names %s, which charts/khook/values.yaml does not have", f.Name, m[1])
			}
		}
		if !strings.Contains(deployment, "- --"+f.Name+"=") && !strings.Contains(deployment, `- "--`+f.Name+"=") {
			t.Errorf("--%s: the docs say %s sets it, but templates/deployment.yaml does not pass --%s=", f.Name, helm, f.Name)
		}
	})
	for name := range rows {
		t.Errorf("docs/configuration.md documents --%s, which khook does not have", name)
	}
}

// valuesPaths is every value of charts/khook/values.yaml as a dotted path: the leaves, and
// the objects whose keys are free (maps the schema does not close), with their parents.
func valuesPaths(t *testing.T) map[string]bool {
	t.Helper()
	leaves, parents := valuesLeaves(t)
	out := map[string]bool{}
	for p := range leaves {
		out[p] = true
	}
	for p := range parents {
		out[p] = true
	}
	return out
}

// valuesLeaves flattens values.yaml along the schema: an object is descended into when the
// schema closes it (additionalProperties: false), else it is one value.
func valuesLeaves(t *testing.T) (leaves map[string]any, parents map[string]bool) {
	t.Helper()
	var values map[string]any
	if err := yaml.Unmarshal(repoFile(t, "charts", "khook", "values.yaml"), &values); err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(repoFile(t, "charts", "khook", "values.schema.json"), &schema); err != nil {
		t.Fatal(err)
	}
	leaves, parents = map[string]any{}, map[string]bool{}
	var walk func(prefix string, v any, s map[string]any)
	walk = func(prefix string, v any, s map[string]any) {
		obj, isObj := v.(map[string]any)
		props, _ := s["properties"].(map[string]any)
		if !isObj || s["additionalProperties"] != false || props == nil {
			leaves[prefix] = v
			return
		}
		if prefix != "" {
			parents[prefix] = true
		}
		for k, child := range obj {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			cs, ok := props[k].(map[string]any)
			if !ok {
				t.Errorf("values.yaml has %s, which the schema does not describe", p)
				continue
			}
			walk(p, child, cs)
		}
	}
	walk("", values, schema)
	return leaves, parents
}

func TestTheConfigurationReferenceCoversEveryValue(t *testing.T) {
	leaves, _ := valuesLeaves(t)
	rows := map[string][]string{}
	for _, cells := range tableRows(t, repoFile(t, "docs", "configuration.md"), "Helm values") {
		if len(cells) != 3 {
			t.Fatalf("value row %v has %d cells, want 3 (value, default, what it does)", cells, len(cells))
		}
		name, ok := firstCode(cells[0])
		if !ok {
			t.Fatalf("value row %v does not start with a `value`", cells)
		}
		rows[name] = cells
	}
	var names []string
	for p := range leaves {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		cells, ok := rows[p]
		if !ok {
			t.Errorf("%s is missing from docs/configuration.md's Helm values table", p)
			continue
		}
		delete(rows, p)
		if want, ok := scalarText(leaves[p]); ok {
			if doc, _ := firstCode(cells[1]); doc != want {
				t.Errorf("%s defaults to %s in values.yaml; the row says %q", p, want, cells[1])
			}
		}
	}
	for p := range rows {
		t.Errorf("docs/configuration.md documents value %s, which values.yaml does not have", p)
	}
}

// scalarText is how the table shows a default it checks: scalars and empty collections.
func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		if v == "" {
			return `""`, true
		}
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case []any:
		return "[]", len(v) == 0
	case map[string]any:
		return "{}", len(v) == 0
	}
	return "", false
}

// TestEveryObjectOfTheValuesSchemaDecidesOnUnknownKeys: an object that does not say whether
// it takes unknown keys takes them, and a typo there would pass silently again.
func TestEveryObjectOfTheValuesSchemaDecidesOnUnknownKeys(t *testing.T) {
	var schema map[string]any
	if err := json.Unmarshal(repoFile(t, "charts", "khook", "values.schema.json"), &schema); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, s map[string]any)
	walk = func(path string, s map[string]any) {
		if s["type"] == "object" {
			ap, set := s["additionalProperties"]
			switch {
			case !set:
				t.Errorf("schema %s: an object without additionalProperties takes any key", path)
			case ap == true && s["$comment"] == nil:
				t.Errorf("schema %s takes any key; say why in a $comment, or close it", path)
			case s["properties"] != nil && ap != false:
				t.Errorf("schema %s lists its keys but takes others too", path)
			}
		}
		for _, key := range []string{"properties"} {
			if props, ok := s[key].(map[string]any); ok {
				for k, child := range props {
					if cs, ok := child.(map[string]any); ok {
						walk(path+"."+k, cs)
					}
				}
			}
		}
		for _, key := range []string{"items", "additionalProperties"} {
			if cs, ok := s[key].(map[string]any); ok {
				walk(path+"["+key+"]", cs)
			}
		}
		for _, key := range []string{"anyOf", "oneOf", "allOf"} {
			if list, ok := s[key].([]any); ok {
				for i, child := range list {
					if cs, ok := child.(map[string]any); ok {
						walk(fmt.Sprintf("%s(%s %d)", path, key, i), cs)
					}
				}
			}
		}
	}
	walk("values", schema)
}

// TestTheChartsArgumentsAreFlagsKhookAccepts parses the container arguments of the chart, as
// `make chart` renders it with its defaults and with every option on, with khook's own flag
// parser: every value the chart passes must be one khook takes.
func TestTheChartsArgumentsAreFlagsKhookAccepts(t *testing.T) {
	for _, env := range []string{"KHOOK_CHART_MANIFEST", "KHOOK_CHART_ALL_MANIFEST"} {
		t.Run(env, func(t *testing.T) {
			path := os.Getenv(env)
			if path == "" {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s is not set; `make test` renders the chart and sets it", env)
				}
				t.Skipf("%s is not set; run `make test`", env)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var args []string
			files := map[string]string{} // the files of the event-sources ConfigMap, by name
			for _, doc := range strings.Split(string(data), "\n---") {
				var obj struct {
					Kind     string                `json:"kind"`
					Metadata struct{ Name string } `json:"metadata"`
					Data     map[string]string     `json:"data"`
					Spec     struct {
						Template struct {
							Spec struct {
								Containers []struct {
									Args []string `json:"args"`
								} `json:"containers"`
							} `json:"spec"`
						} `json:"template"`
					} `json:"spec"`
				}
				if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
					t.Fatal(err)
				}
				switch {
				case obj.Kind == "Deployment":
					args = obj.Spec.Template.Spec.Containers[0].Args
				case obj.Kind == "ConfigMap" && strings.HasSuffix(obj.Metadata.Name, "-event-sources"):
					files = obj.Data
				}
			}
			if len(args) == 0 {
				t.Fatal("no Deployment with arguments in the manifest")
			}
			// The event sources' files are where the chart mounts them in the Pod; here they are
			// written to a directory of the test's, so that khook's own loader reads them.
			dir := t.TempDir()
			for name, content := range files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// So are the metrics certificate and key of metrics.certSecret.
			certs := t.TempDir()
			for _, name := range []string{"tls.crt", "tls.key"} {
				if err := os.WriteFile(filepath.Join(certs, name), []byte("mounted from the Secret"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for i, a := range args {
				a = strings.Replace(a, "/etc/khook/sources/", dir+"/", 1)
				args[i] = strings.Replace(a, "=/etc/khook/metrics-certs", "="+certs, 1)
			}
			env := func(k string) string {
				switch {
				case k == "POD_NAMESPACE":
					return "kagent"
				case strings.HasPrefix(k, "KAGENT_"), k == "GOMEMLIMIT":
					return ""
				case k == "KHOOK_MEMORY_LIMIT":
					return "536870912" // what the chart's downward API gives for 512Mi
				default:
					return "from-the-secret" // every ${VAR} of the sources' settings
				}
			}
			c, err := parseFlags(args, env, &bytes.Buffer{})
			if err != nil {
				t.Fatalf("khook refuses the chart's arguments %q: %v", args, err)
			}
			if !c.leaderElect || c.leaderElectNamespace != "kagent" {
				t.Errorf("the chart runs khook without leader election in its namespace: %q", args)
			}
		})
	}
}

// TestTheTroubleshootingGuideExplainsEveryReason reads the audit Event reasons (ports.AuditKind)
// and the Hook condition types and reasons (package status) from the source, and looks for
// each in docs/troubleshooting.md.
func TestTheTroubleshootingGuideExplainsEveryReason(t *testing.T) {
	guide := string(repoFile(t, "docs", "troubleshooting.md"))
	var reasons []string
	reasons = append(reasons, constants(t, filepath.Join("..", "..", "ports"), func(name, typ string) bool { return typ == "AuditKind" })...)
	reasons = append(reasons, constants(t, filepath.Join("..", "..", "domain", "status"), func(name, _ string) bool {
		return strings.HasPrefix(name, "Reason") || strings.HasPrefix(name, "Condition")
	})...)
	if len(reasons) < 8 {
		t.Fatalf("found only %v; did the constants move?", reasons)
	}
	for _, r := range slices.Compact(slices.Sorted(slices.Values(reasons))) {
		if !strings.Contains(guide, "`"+r+"`") {
			t.Errorf("docs/troubleshooting.md does not explain `%s`", r)
		}
	}
}

// constants returns the string values of the package's constants that keep says to keep
// (given the constant's name and declared type name).
func constants(t *testing.T, dir string, keep func(name, typ string) bool) []string {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, decl := range f.Decls {
				gen, ok := decl.(*ast.GenDecl)
				if !ok || gen.Tok != token.CONST {
					continue
				}
				for _, spec := range gen.Specs {
					vs := spec.(*ast.ValueSpec)
					typ := ""
					if id, ok := vs.Type.(*ast.Ident); ok {
						typ = id.Name
					}
					for i, name := range vs.Names {
						if i >= len(vs.Values) || !keep(name.Name, typ) {
							continue
						}
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							v, _ := strconv.Unquote(lit.Value)
							out = append(out, v)
						}
					}
				}
			}
		}
	}
	return out
}

// TestTheDocsExampleHooksNameTheirAgentsNamespace: an agentRef without a namespace resolves
// to the Hook's own namespace, where Kagent's agents are not (they live in kagent). Copied from
// the docs into namespace default, such a Hook would call an agent that does not exist.
func TestTheDocsExampleHooksNameTheirAgentsNamespace(t *testing.T) {
	docs, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, filepath.Join("..", "..", "README.md"))
	for _, path := range docs {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(data), "\n")
			for i, line := range lines {
				trimmed := strings.TrimSpace(line)
				if !strings.HasPrefix(trimmed, "agentRef:") {
					continue
				}
				indent := len(line) - len(strings.TrimLeft(line, " "))
				named := strings.Contains(trimmed, "namespace:") // agentRef: {name: a, namespace: b}
				for _, next := range lines[i+1:] {
					if strings.TrimSpace(next) == "" || len(next)-len(strings.TrimLeft(next, " ")) <= indent {
						break
					}
					named = named || strings.HasPrefix(strings.TrimSpace(next), "namespace:")
				}
				if !named && !strings.HasSuffix(trimmed, "`") { // a mention in prose, not YAML
					t.Errorf("%s:%d: an agentRef without a namespace (it would be the Hook's)", filepath.Base(path), i+1)
				}
			}
		})
	}
}
