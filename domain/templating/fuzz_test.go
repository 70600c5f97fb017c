package templating_test

import (
	"bytes"
	"errors"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"text/template"
	"text/template/parse"
	"time"
	"unicode"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/templating"
)

// The bounds one render must keep, whatever the template (at most MaxTemplateCharacters) and event.
const (
	maxRenderTime  = time.Second
	maxRenderAlloc = 8 << 20
)

// fuzzSeeds cover every construct the sandbox allows, and the attacks it must stop. More seeds
// live in testdata/fuzz/FuzzRender.
var fuzzSeeds = []struct{ tmpl, msg string }{
	{"{{.EventType}} on {{.ResourceName}}", "Back-off"},
	{`{{range $k, $v := .Metadata}}{{$k}}={{$v}};{{else}}none{{end}}`, "x"},
	{`{{range .Tags}}{{if eq . "a"}}{{break}}{{end}}{{.}}{{continue}}{{end}}`, "a"},
	{`{{range $v := .Metadata}}{{$v}}{{end}}{{range $k, $v := .Tags}}{{else}}{{$k}}{{end}}`, ""},
	{`{{define "a"}}{{end}}`, ""},
	{`{{call .Message}}`, ""},
	{`{{printf "%s" .Message | upper}}`, "{{.Secret}}"},
	{`{{printf "%-20s|%5.2f|%x|%q|%v|%d" .Reason 3.14159 .Message .Message .Metadata 42}}`, "\u202eevil"},
	{`{{printf "%[2]s %[1]s %s" .Reason .Namespace}}{{printf "%d %d" 1}}{{printf "%d" 1 2}}`, ""},
	{`{{printf .Message 1 2}}`, "%*d %999999d %.999999f %p %[1]d %!"},
	{`{{with $x := .Reason}}{{$x}}{{else with .Message}}{{.}}{{else}}none{{end}}`, "\n\r\x00"},
	{`{{if .Message}}{{.Message}}{{else if .Reason}}{{.Reason}}{{else}}none{{end}}`, ""},
	{`{{index .Metadata "k"}}{{slice .Message 0 1}}{{index .Message 0}}{{len .Tags}}`, "ab"},
	{`{{and .Message .Reason}} {{or "" 0 .Metadata}} {{not .Tags}} {{.Message | and 1}}`, "m"},
	{`{{lt 1 2}} {{le 1.5 2.5}} {{gt "b" "a"}} {{ge (index .Message 0) 1}} {{ne .Reason "x"}} {{eq 1 2 3 1}}`, "q"},
	{`{{print 1 2 "a" "b" 3.0 true .Tags}}{{println .Severity .Description}}{{$}}`, "z"},
	{`{{truncate 3 .Message}} {{.Message | truncate 2}} {{quote .Reason}} {{lower "ABC"}} {{trimSpace "  x "}}`, "héllo"},
	{`{{$x := 1}}{{if true}}{{$x = 2}}{{$y := 3}}{{end}}{{$x}}{{$ = .Reason}}{{$}}`, ""},
	{`{{$x := .Metadata}}{{range .Tags}}{{$x.k}}{{$x = "s"}}{{end}}`, "v"},
	{`{{1e3}} {{0x10}} {{'a'}} {{1.0}} {{-0.0}} {{0x1p4}} {{1_000}}`, ""},
	{`{{$x := .Message}}{{$x = print $x $x}}{{$x = print $x $x}}{{$x = print $x $x}}{{len $x}}`, "ab"},
	{`{{range .Metadata}}{{range .Tags}}{{end}}{{end}}`, ""},
	{strings.Repeat(`{{range $.Metadata}}`, 40) + strings.Repeat(`{{end}}`, 40), ""},
	{`{{printf "` + strings.Repeat("%999999d", 900) + `"}}`, ""},
	{`{{.Subject.Kind}} {{.Subject.Name}}: {{.ResourceCount}} {{range $i, $r := .Resources}}{{$i}}={{$r}} {{else}}none{{end}}`, "web-0"},
	{`{{with .Subject}}{{.Namespace}}{{end}} {{slice .Resources 1 2 3}} {{index .Resources 0}} {{len .Resources}} {{printf "%v %+v %#v %x" .Subject .Subject .Resources .Resources}}`, "é\x00"},
	{`{{range .Resources}}{{if eq . "web-1"}}{{break}}{{end}}{{.}}{{end}}{{eq .Subject $.Subject}} {{gt .ResourceCount 1}} {{$}}`, "{{.Secret}}"},
}

// fuzzGroup returns the incident the fuzz targets render in, with msg as its subject's name and
// among its names, more than once, beside names that sort before and after it.
func fuzzGroup(msg string) templating.Group {
	return templating.Group{
		Subject:       templating.Subject{Kind: "Deployment", Namespace: "shop", Name: msg},
		Resources:     []string{msg, "web-2", "web-1", msg + "{{", "web-1", msg, "\x00" + msg},
		ResourceCount: len(msg) - 3,
	}
}

// event returns the event the fuzz targets render, with msg in every kind of field.
func fuzzEvent(msg string) event.Event {
	return event.Event{
		Type: event.PodRestart, ResourceKind: "Pod", ResourceName: "web-1", Namespace: "shop", Reason: "BackOff",
		Message: msg, Timestamp: time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC), Source: "kubernetes",
		Severity: "critical", Description: "the pod restarts",
		Metadata: map[string]string{"k": msg, "container": "web", "n": "42", msg: "key"},
		Tags:     map[string]string{"team": "a", "x": msg},
	}
}

// FuzzRender checks that no template or event text makes rendering panic, take more than
// maxRenderTime or allocate more than maxRenderAlloc, alone or in an incident; that a template
// the renderer accepts uses only allow-listed fields and functions (seen by an independent walk
// of the parse tree); that event text and the incident's names reach a template with no control
// or format characters; and that output stays within its limit.
func FuzzRender(f *testing.F) {
	for _, seed := range fuzzSeeds {
		f.Add(seed.tmpl, seed.msg)
	}
	r := templating.NewRenderer()
	f.Fuzz(func(t *testing.T, tmpl, msg string) {
		e, g := fuzzEvent(msg), fuzzGroup(msg)
		accepted := false
		for _, grouped := range []bool{false, true} {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now() // real time, for this bound only
			var out string
			var err error
			if grouped {
				out, err = r.RenderGroup(tmpl, e, g)
			} else {
				out, err = r.Render(tmpl, e)
			}
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if took > maxRenderTime {
				t.Fatalf("rendering %q took %v, more than %v", tmpl, took, maxRenderTime)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > maxRenderAlloc {
				t.Fatalf("rendering %q allocated %d bytes, more than %d", tmpl, alloc, maxRenderAlloc)
			}
			if errors.Is(err, templating.ErrInternal) {
				t.Fatalf("rendering %q: %v", tmpl, err)
			}
			if err != nil {
				continue
			}
			accepted = true
			if len(out) > templating.MaxOutputBytes {
				t.Fatalf("output of %d bytes exceeds the limit", len(out))
			}
		}
		assertClean(t, templating.DataFor(e))
		assertClean(t, templating.DataForGroup(e, g))
		if accepted {
			assertAllowListed(t, tmpl)
		}
	})
}

// FuzzRenderMatchesTextTemplate checks that the sandbox renders every template it accepts as
// text/template does, with the same functions and data, alone and in an incident, unless a
// budget stops it: the same output, or an error from both.
func FuzzRenderMatchesTextTemplate(f *testing.F) {
	for _, seed := range fuzzSeeds {
		f.Add(seed.tmpl, seed.msg)
	}
	r := templating.NewRendererWithClock(nil)
	f.Fuzz(func(t *testing.T, tmpl, msg string) {
		for _, grouped := range []bool{false, true} {
			if problem, _ := differ(r, tmpl, msg, grouped); problem != "" {
				t.Fatalf("template %q (in an incident: %t): %s", tmpl, grouped, problem)
			}
		}
	})
}

func renderWithTextTemplate(tmpl string, e event.Event) (string, error) {
	return renderDataWithTextTemplate(tmpl, templating.DataFor(e))
}

func renderDataWithTextTemplate(tmpl string, d templating.Data) (string, error) {
	t, err := template.New("prompt").Option("missingkey=zero").Funcs(templating.HelperFuncs).Parse(tmpl)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := t.Execute(&out, d); err != nil {
		return "", err
	}
	return out.String(), nil
}

// assertClean fails if any text in d holds a control or format character, or if d's names are
// more than MaxResources, unsorted or repeated.
func assertClean(t *testing.T, d templating.Data) {
	t.Helper()
	check := func(s string) {
		for _, r := range s {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
				t.Fatalf("template data holds %U in %q", r, s)
			}
		}
	}
	v := reflect.ValueOf(d)
	for i := range v.NumField() {
		switch f := v.Field(i).Interface().(type) {
		case string:
			check(f)
		case map[string]string:
			for k, val := range f {
				check(k)
				check(val)
			}
		case templating.Subject:
			check(f.Kind)
			check(f.Namespace)
			check(f.Name)
		case []string:
			for _, s := range f {
				check(s)
			}
			if len(f) > templating.MaxResources || !slices.IsSorted(f) || len(slices.Compact(slices.Clone(f))) != len(f) {
				t.Fatalf("template data holds the names %q", f)
			}
		}
	}
	if d.ResourceCount < max(1, len(d.Resources)) {
		t.Fatalf("template data counts %d resources and shows %d", d.ResourceCount, len(d.Resources))
	}
}

// assertAllowListed fails if tmpl, which the renderer accepted, defines templates or uses a
// function or a field of the data that is not allow-listed.
func assertAllowListed(t *testing.T, tmpl string) {
	t.Helper()
	trees, err := parse.Parse("prompt", tmpl, "", "", allFunctions())
	if err != nil {
		t.Fatalf("Render accepted %q, which does not parse: %v", tmpl, err)
	}
	if len(trees) > 1 {
		t.Fatalf("Render accepted %q, which defines templates", tmpl)
	}
	for _, tree := range trees {
		walk(tree.Root, func(n parse.Node) {
			switch n := n.(type) {
			case *parse.TemplateNode:
				t.Fatalf("Render accepted {{template}} in %q", tmpl)
			case *parse.IdentifierNode:
				if !slices.Contains(templating.Functions, n.Ident) {
					t.Fatalf("Render accepted function %q in %q", n.Ident, tmpl)
				}
			case *parse.FieldNode:
				if !slices.Contains(templating.Fields, n.Ident[0]) && !slices.Contains(templating.SubjectFields, n.Ident[0]) &&
					!strings.Contains(tmpl, "Metadata") && !strings.Contains(tmpl, "Tags") {
					t.Fatalf("Render accepted field %q in %q", n.Ident[0], tmpl)
				}
			}
		})
	}
}

func allFunctions() map[string]any {
	m := map[string]any{}
	for _, name := range append(slices.Clone(templating.Functions), "call", "html", "js", "urlquery") {
		m[name] = struct{}{} // parse only checks that the name is defined
	}
	return m
}

func walk(n parse.Node, visit func(parse.Node)) {
	if n == nil {
		return
	}
	visit(n)
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walk(c, visit)
		}
	case *parse.ActionNode:
		walk(n.Pipe, visit)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walk(c, visit)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walk(a, visit)
		}
	case *parse.IfNode:
		walkBranch(&n.BranchNode, visit)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, visit)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, visit)
	case *parse.TemplateNode:
		walk(n.Pipe, visit)
	}
}

func walkBranch(b *parse.BranchNode, visit func(parse.Node)) {
	walk(b.Pipe, visit)
	walk(b.List, visit)
	if b.ElseList != nil {
		walk(b.ElseList, visit)
	}
}
