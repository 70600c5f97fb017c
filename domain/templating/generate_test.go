package templating_test

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/khook-dev/khook/domain/templating"
)

// generator writes random templates from the sandbox's grammar, with some calls of the wrong
// arity or types, so that the differential test sees accepted templates of every shape: byte
// mutation of the fuzz corpus rarely makes a well-formed nested one.
type generator struct {
	r       *rand.Rand
	b       strings.Builder
	scope   []string // variables in view
	nesting int
	inRange bool
	next    int // next variable number
}

func generate(seed uint64) string {
	g := &generator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), scope: []string{"$"}}
	g.list(4)
	return g.b.String()
}

var (
	genTexts   = []string{"x", " ", "\n", "Pod ", ": ", "}", "%d", "é"}
	genStrings = []string{`"a"`, `""`, `"BackOff"`, `"%d"`, `"%v|%s"`, `"%5.2f"`, `"%x %X"`, `"%q"`, `"%T"`, `"%[2]v %[1]v"`,
		`"%-8s|"`, `"%+d"`, `"%c"`, `"%U"`, `"%08.3f"`, "`raw`", `"k"`, `"container"`, `"\u202e"`}
	genNumbers = []string{"0", "1", "-1", "2", "3", "255", "'a'", "0x10", "1e3", "1.5", "0.0", "-2.25", "1_000", "99"}
	genKeys    = []string{"k", "container", "n", "team", "x", "missing"}
	genMsgs    = []string{"", "BackOff", "héllo\u202eworld", "42", "%d %s", "a\x00b", "  padded  ", "ÿ"}
)

func (g *generator) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g *generator) list(n int) {
	for range g.r.IntN(n) + 1 {
		g.item()
	}
}

func (g *generator) item() {
	b := &g.b
	switch g.r.IntN(14) {
	case 0, 1:
		b.WriteString(g.pick(genTexts))
	case 2, 3, 4, 5:
		b.WriteString("{{" + g.pipeline(0) + "}}")
	case 6:
		name := "$v" + strconv.Itoa(g.next)
		g.next++
		b.WriteString("{{" + name + " := " + g.pipeline(0) + "}}")
		g.scope = append(g.scope, name)
	case 7:
		b.WriteString("{{" + g.pick(g.scope) + " = " + g.pipeline(0) + "}}")
	case 8, 9:
		if g.nesting < templating.MaxNesting {
			g.control(g.pick([]string{"if", "with"}))
		}
	case 10, 11:
		if g.nesting < templating.MaxNesting && !g.inRange {
			g.rangeOver()
		}
	case 12:
		if g.inRange {
			b.WriteString("{{if " + g.pipeline(0) + "}}{{" + g.pick([]string{"break", "continue"}) + "}}{{end}}")
		}
	case 13:
		b.WriteString(g.pick([]string{"{{/* c */}}", "{{- /* c */ -}}", " {{- .Reason -}} "}))
	}
}

// block writes a list in its own scope.
func (g *generator) block() {
	mark := len(g.scope)
	g.nesting++
	g.list(3)
	g.nesting--
	g.scope = g.scope[:mark]
}

func (g *generator) control(kind string) {
	mark := len(g.scope)
	g.b.WriteString("{{" + kind + " ")
	if g.r.IntN(4) == 0 {
		name := "$c" + strconv.Itoa(g.next)
		g.next++
		g.b.WriteString(name + " := ")
		defer func() { g.scope = g.scope[:mark] }()
		g.b.WriteString(g.pipeline(0) + "}}")
		g.scope = append(g.scope, name)
	} else {
		g.b.WriteString(g.pipeline(0) + "}}")
	}
	g.block()
	for g.r.IntN(3) == 0 {
		g.b.WriteString("{{else " + kind + " " + g.pipeline(0) + "}}")
		g.block()
	}
	if g.r.IntN(2) == 0 {
		g.b.WriteString("{{else}}")
		g.block()
	}
	g.b.WriteString("{{end}}")
}

func (g *generator) rangeOver() {
	mark := len(g.scope)
	defer func() { g.scope = g.scope[:mark] }()
	over := g.pick([]string{".Metadata", "$.Metadata", ".Tags", "$.Tags", ".Resources", "$.Resources", "(slice $.Resources 1)"})
	switch g.r.IntN(3) {
	case 0:
		g.b.WriteString("{{range " + over + "}}")
	case 1:
		name := "$e" + strconv.Itoa(g.next)
		g.next++
		g.b.WriteString("{{range " + name + " := " + over + "}}")
		g.scope = append(g.scope, name)
	case 2:
		k, v := "$k"+strconv.Itoa(g.next), "$e"+strconv.Itoa(g.next)
		g.next++
		g.b.WriteString("{{range " + k + ", " + v + " := " + over + "}}")
		g.scope = append(g.scope, k, v)
	}
	g.inRange = true
	g.block()
	g.inRange = false
	if g.r.IntN(3) == 0 {
		g.b.WriteString("{{else}}")
		g.block()
	}
	g.b.WriteString("{{end}}")
}

func (g *generator) pipeline(depth int) string {
	p := g.command(depth)
	for g.r.IntN(4) == 0 {
		p += " | " + g.call(depth, true)
	}
	return p
}

func (g *generator) command(depth int) string {
	if g.r.IntN(2) == 0 {
		return g.call(depth, false)
	}
	return g.operand(depth)
}

// call writes a call, mostly with a number of arguments the function takes (arities as in
// text/template); a piped call gets one argument from the pipeline.
func (g *generator) call(depth int, piped bool) string {
	c := g.pick(templating.Functions)
	n := g.r.IntN(4)
	if g.r.IntN(4) > 0 {
		switch c {
		case "not", "len", "upper", "lower", "trimSpace", "quote":
			n = 1
		case "ne", "lt", "le", "gt", "ge", "truncate":
			n = 2
		case "and", "or", "eq", "index", "slice", "printf":
			n = 1 + g.r.IntN(3)
		}
		if piped && n > 0 {
			n--
		}
	}
	for range n {
		c += " " + g.operand(depth+1)
	}
	return c
}

func (g *generator) operand(depth int) string {
	switch g.r.IntN(14) {
	case 0:
		if g.inRange {
			return "$." + g.pick(templating.Fields) // the dot is a string in a range
		}
		return "." + g.pick(templating.Fields)
	case 1:
		return "$." + g.pick(templating.Fields)
	case 2:
		if g.r.IntN(2) == 0 && !g.inRange {
			return g.pick([]string{".Subject.", "$.Subject."}) + g.pick(templating.SubjectFields)
		} else if g.r.IntN(2) == 0 {
			return "$.Subject." + g.pick(templating.SubjectFields)
		}
		return g.pick([]string{".Metadata.", "$.Metadata.", "$.Tags."}) + g.pick(genKeys)
	case 3, 4:
		return g.pick(g.scope)
	case 5:
		return "."
	case 6, 7:
		return g.pick(genStrings)
	case 8:
		return g.pick(genNumbers)
	case 9:
		return g.pick([]string{"true", "false"})
	case 10, 11, 12:
		if depth < 3 {
			return "(" + g.pipeline(depth+1) + ")"
		}
		return g.pick(genStrings)
	}
	return g.pick([]string{"print", "println"})
}

// differ renders tmpl with the sandbox and with text/template, for the fuzz event alone or in
// the fuzz incident, and says how they differ, if they do; a template the sandbox refuses or
// stops at a budget does not count. accepted says whether the sandbox took the template.
func differ(r *templating.Renderer, tmpl, msg string, grouped bool) (problem string, accepted bool) {
	compiled, err := r.Compile(tmpl)
	if err != nil {
		return "", false
	}
	e := fuzzEvent(msg)
	var got string
	data := templating.DataFor(e)
	if grouped {
		g := fuzzGroup(msg)
		got, err = compiled.RenderGroup(e, g)
		data = templating.DataForGroup(e, g)
	} else {
		got, err = compiled.Render(e)
	}
	if errors.Is(err, templating.ErrBudgetExceeded) {
		return "", true
	}
	want, wantErr := renderDataWithTextTemplate(tmpl, data)
	switch {
	case errors.Is(err, templating.ErrInternal):
		return "sandbox panicked: " + err.Error(), true
	case err != nil && wantErr == nil:
		return "sandbox failed with " + err.Error() + "; text/template rendered " + strconv.Quote(want), true
	case err == nil && wantErr != nil:
		return "sandbox rendered " + strconv.Quote(got) + "; text/template failed with " + wantErr.Error(), true
	case got != want:
		return "sandbox rendered " + strconv.Quote(got) + "; text/template " + strconv.Quote(want), true
	}
	return "", true
}

func TestGeneratedTemplatesRenderAsTextTemplateDoes(t *testing.T) {
	r := templating.NewRendererWithClock(nil)
	accepted := 0
	for seed := range uint64(4000) {
		tmpl := generate(seed)
		problem, ok := differ(r, tmpl, genMsgs[seed%uint64(len(genMsgs))], seed%2 == 1)
		if problem != "" {
			t.Fatalf("template %q (seed %d): %s", tmpl, seed, problem)
		}
		if ok {
			accepted++
		}
	}
	t.Logf("%d of 4000 generated templates were accepted", accepted)
	// Most generated templates should be accepted, or the test would prove little.
	if accepted < 1500 {
		t.Fatalf("only %d of 4000 generated templates were accepted", accepted)
	}
}

// FuzzGeneratedTemplatesMatchTextTemplate is the differential check on generated templates,
// with the fuzzer choosing the seed and the event text.
func FuzzGeneratedTemplatesMatchTextTemplate(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(seed, genMsgs[seed%uint64(len(genMsgs))])
	}
	r := templating.NewRendererWithClock(nil)
	f.Fuzz(func(t *testing.T, seed uint64, msg string) {
		tmpl := generate(seed)
		for _, grouped := range []bool{false, true} {
			if problem, _ := differ(r, tmpl, msg, grouped); problem != "" {
				t.Fatalf("template %q (in an incident: %t): %s", tmpl, grouped, problem)
			}
		}
	})
}
