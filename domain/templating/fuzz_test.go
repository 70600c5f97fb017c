package templating_test

import (
	"slices"
	"strings"
	"testing"
	"text/template/parse"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/templating"
)

// FuzzRender checks that no template or event text makes rendering panic, that a template the
// renderer accepts uses only allow-listed fields and functions (seen by an independent walk of the
// parse tree), that control characters in event text never reach the output, and that output
// stays within its limit. More seeds live in testdata/fuzz/FuzzRender.
func FuzzRender(f *testing.F) {
	for _, seed := range []struct{ tmpl, msg string }{
		{"{{.EventType}} on {{.ResourceName}}", "Back-off"},
		{`{{range $k, $v := .Metadata}}{{$k}}{{end}}`, "x"},
		{`{{define "a"}}{{end}}`, ""},
		{`{{call .Message}}`, ""},
		{`{{printf "%s" .Message | upper}}`, "{{.Secret}}"},
		{`{{with $x := .Reason}}{{$x}}{{end}}`, "\n\r\x00"},
		{`{{if .Message}}{{.Message}}{{else}}none{{end}}`, ""},
		{`{{index .Metadata "k"}}{{slice .Message 0 1}}`, "ab"},
	} {
		f.Add(seed.tmpl, seed.msg)
	}
	r := templating.NewRenderer()
	f.Fuzz(func(t *testing.T, tmpl, msg string) {
		e := event.Event{Type: event.PodRestart, ResourceName: "p", Message: msg, Metadata: map[string]string{"k": msg}}
		out, err := r.Render(tmpl, e)
		if err != nil {
			return
		}
		if len(out) > templating.MaxOutputBytes {
			t.Fatalf("output of %d bytes exceeds the limit", len(out))
		}
		if !strings.Contains(tmpl, "\x00") && strings.Contains(out, "\x00") {
			t.Fatalf("a control character from event text reached the output: %q", out)
		}
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
					if !slices.Contains(templating.Fields, n.Ident[0]) && !strings.Contains(tmpl, "Metadata") {
						t.Fatalf("Render accepted field %q in %q", n.Ident[0], tmpl)
					}
				}
			})
		}
	})
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
