package templating_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/templating"
)

// crashLoop is the incident of a Deployment whose three Pods crash-loop; restart is the event of
// one of them.
var crashLoop = templating.Group{
	Subject:       templating.Subject{Kind: "Deployment", Namespace: "shop", Name: "web"},
	Resources:     []string{"web-7d4b9", "web-2x9kq", "web-5fj2p"},
	ResourceCount: 3,
}

// withGroup returns crashLoop changed by change.
func withGroup(change func(g *templating.Group)) templating.Group {
	g := crashLoop
	g.Resources = slices.Clone(g.Resources)
	change(&g)
	return g
}

// podNames returns n Pod names pod-00000, pod-00001, … in a random order.
func podNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("pod-%05d", i)
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(n, func(i, j int) { names[i], names[j] = names[j], names[i] })
	return names
}

func TestRenderGroupShowsTheIncident(t *testing.T) {
	tests := []struct {
		name     string
		template string
		group    templating.Group
		want     string
	}{
		{"the subject's kind, namespace and name render", "{{.Subject.Kind}} {{.Subject.Namespace}}/{{.Subject.Name}}", crashLoop,
			"Deployment shop/web"},
		{"the issue's example prompt renders the incident",
			"Deployment {{.Subject.Name}}: {{.ResourceCount}} pods crash-looping: {{range .Resources}}{{.}} {{end}}", crashLoop,
			"Deployment web: 3 pods crash-looping: web-2x9kq web-5fj2p web-7d4b9 "},
		{"the resources print sorted", "{{.Resources}}", crashLoop, "[web-2x9kq web-5fj2p web-7d4b9]"},
		{"range gives each index and name", "{{range $i, $r := .Resources}}{{$i}}={{$r}} {{end}}", crashLoop,
			"0=web-2x9kq 1=web-5fj2p 2=web-7d4b9 "},
		{"range with one variable gives each name", "{{range $r := .Resources}}{{$r}};{{end}}", crashLoop, "web-2x9kq;web-5fj2p;web-7d4b9;"},
		{"range assigns to variables declared before it", `{{$i := 9}}{{$r := ""}}{{range $i, $r = .Resources}}{{end}}{{$i}} {{$r}}`, crashLoop,
			"2 web-7d4b9"},
		{"break and continue steer a range over the resources",
			`{{range $i, $r := .Resources}}{{if eq $i 0}}{{continue}}{{end}}{{$r}}{{break}}{{end}}`, crashLoop, "web-5fj2p"},
		{"the resource count compares as an int", `{{if gt .ResourceCount 1}}{{.ResourceCount}} pods{{else}}one pod{{end}}`, crashLoop,
			"3 pods"},
		{"the resource count equals an int constant", `{{eq .ResourceCount 3}} {{lt .ResourceCount 2}} {{ne .ResourceCount (len .Resources)}}`,
			crashLoop, "true false false"},
		{"len, index and slice work on the resources", `{{len .Resources}} {{index .Resources 1}} {{slice .Resources 1}} {{index .Resources 0 0}}`,
			crashLoop, "3 web-5fj2p [web-5fj2p web-7d4b9] 119"},
		{"a slice of the resources ranges and slices again", `{{$s := slice .Resources 0 1}}{{range $s}}{{.}}{{end}} {{slice $s 0 3}}`,
			crashLoop, "web-2x9kq [web-2x9kq web-5fj2p web-7d4b9]"},
		{"with rebinds the dot to the subject", `{{with .Subject}}{{.Kind}} {{.Name}}{{end}}`, crashLoop, "Deployment web"},
		{"the subject's namespace is its own, not the event's", `{{with .Subject}}{{.Namespace}}{{end}} {{.Namespace}}`,
			withGroup(func(g *templating.Group) { g.Subject.Namespace = "prod" }), "prod shop"},
		{"with rebinds the dot to the resources", `{{with .Resources}}{{index . 2}}{{end}}`, crashLoop, "web-7d4b9"},
		{"the subject and resources print and format as Go values", `{{.Subject}} {{printf "%q %+v %d" .Resources .Subject .ResourceCount}}`,
			crashLoop, `{Deployment shop web} ["web-2x9kq" "web-5fj2p" "web-7d4b9"] {Kind:Deployment Namespace:shop Name:web} 3`},
		{"the subject equals itself", `{{eq .Subject $.Subject}} {{ne $.Subject .Subject}}`, crashLoop, "true false"},
		{"the resource name stays the event's", "{{.ResourceName}} of {{.Subject.Name}}", crashLoop, "web-7d4b9 of web"},
		{"the count covers members not listed", "{{.ResourceCount}} {{len .Resources}}",
			withGroup(func(g *templating.Group) { g.ResourceCount = 50 }), "50 3"},
		{"a count below the names shown is raised to them", "{{.ResourceCount}}",
			withGroup(func(g *templating.Group) { g.ResourceCount = 1 }), "3"},
		{"a negative count is raised to the names shown", "{{.ResourceCount}}",
			withGroup(func(g *templating.Group) { g.ResourceCount = -7 }), "3"},
		{"duplicate and empty names are dropped", "{{.Resources}} {{.ResourceCount}}",
			templating.Group{Subject: crashLoop.Subject, Resources: []string{"b", "a", "", "b"}}, "[a b] 2"},
		{"a zero subject stands for the event's resource", "{{.Subject}}",
			withGroup(func(g *templating.Group) { g.Subject = templating.Subject{} }), "{Pod shop web-7d4b9}"},
		{"no names stand for the event's resource", "{{.Resources}} {{.ResourceCount}}",
			withGroup(func(g *templating.Group) { g.Resources, g.ResourceCount = nil, 0 }), "[web-7d4b9] 1"},
		{"no names with a count keep the count", "{{.Resources}} {{.ResourceCount}}",
			withGroup(func(g *templating.Group) { g.Resources, g.ResourceCount = nil, 12 }), "[web-7d4b9] 12"},
		{"a cluster-scoped subject has no namespace", "{{.Subject.Kind}} [{{.Subject.Namespace}}] {{.Subject.Name}}",
			templating.Group{Subject: templating.Subject{Kind: "Node", Name: "node-1"}, Resources: []string{"node-1"}}, "Node [] node-1"},
		{"the whole data prints with the incident", "{{$}}", crashLoop,
			"{pod-restart web-7d4b9 Pod shop BackOff Back-off restarting failed container web 2026-11-22T08:30:00Z 2026-11-22T08:30:00Z kubernetes " +
				"map[container:web severity:critical] warning A container restarts map[team:shop tier:frontend] {Deployment shop web} " +
				"[web-2x9kq web-5fj2p web-7d4b9] 3}"},
	}
	r := templating.NewRenderer()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			given := slices.Clone(tt.group.Resources)
			got, err := r.RenderGroup(tt.template, restart, tt.group)
			if err != nil {
				t.Fatalf("RenderGroup: %v", err)
			}
			if got != tt.want {
				t.Fatalf("RenderGroup = %q, want %q", got, tt.want)
			}
			if !slices.Equal(tt.group.Resources, given) {
				t.Fatalf("RenderGroup changed the caller's names: %q, was %q", tt.group.Resources, given)
			}
			tmpl, err := r.Compile(tt.template)
			if err != nil {
				t.Fatal(err)
			}
			if again, err := tmpl.RenderGroup(restart, tt.group); again != got || err != nil {
				t.Fatalf("Template.RenderGroup = %q, %v; Renderer.RenderGroup = %q", again, err, got)
			}
			if want, err := renderDataWithTextTemplate(tt.template, templating.DataForGroup(restart, tt.group)); want != got || err != nil {
				t.Fatalf("text/template rendered %q, %v; the sandbox %q", want, err, got)
			}
		})
	}
}

func TestRenderIsTheIncidentOfTheEventsResourceAlone(t *testing.T) {
	nameless := restart
	nameless.ResourceName = "\u200b" // sanitizes to nothing
	dirty := restart
	dirty.ResourceKind, dirty.Namespace, dirty.ResourceName = "Po\x00d", "sh\u202eop", "web\n1"
	tests := []struct {
		name     string
		template string
		event    event.Event
		want     string
	}{
		{"the subject is the event's kind, namespace and name", "{{.Subject.Kind}} {{.Subject.Namespace}} {{.Subject.Name}}", restart,
			"Pod shop web-7d4b9"},
		{"the resources are the event's resource", "{{.Resources}}", restart, "[web-7d4b9]"},
		{"the resource count is one", "{{.ResourceCount}}", restart, "1"},
		{"range over the resources runs once", "{{range $i, $r := .Resources}}{{$i}}:{{$r}}{{end}}", restart, "0:web-7d4b9"},
		{"the resource name is the first member", `{{eq .ResourceName (index .Resources 0) .Subject.Name}}`, restart, "true"},
		{"the subject and the resources are sanitized as the event's fields are", "{{.Subject}} {{.Resources}}", dirty,
			"{Pod shop web 1} [web 1]"},
		{"an event that names no resource has no resources but counts one", "{{len .Resources}} {{.ResourceCount}}{{range .Resources}}x{{else}} none{{end}}",
			nameless, "0 1 none"},
	}
	r := templating.NewRenderer()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Render(tt.template, tt.event)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Render = %q, want %q", got, tt.want)
			}
			if zero, err := r.RenderGroup(tt.template, tt.event, templating.Group{}); zero != got || err != nil {
				t.Fatalf("RenderGroup with the zero Group = %q, %v; Render = %q", zero, err, got)
			}
			if want, err := renderWithTextTemplate(tt.template, tt.event); want != got || err != nil {
				t.Fatalf("text/template rendered %q, %v; the sandbox %q", want, err, got)
			}
		})
	}
}

func TestRenderGroupBoundsAndCleansWhatTheCallerGives(t *testing.T) {
	many := podNames(10_000)
	descending := slices.Clone(many)
	slices.Sort(descending)
	slices.Reverse(descending)
	const first20 = "pod-00000 … pod-00019"
	long := strings.Repeat("n", 3*templating.MaxValueBytes)
	const list = "{{len .Resources}} {{.ResourceCount}} {{index .Resources 0}} … {{index .Resources (len (slice .Resources 1))}}"
	tests := []struct {
		name     string
		template string
		group    templating.Group
		want     string
	}{
		{"template syntax in a name is printed, not run", "{{range .Resources}}{{.}};{{end}}",
			templating.Group{Resources: []string{`{{.Secret}}`, `{{template "x"}}`}}, `{{.Secret}};{{template "x"}};`},
		{"line breaks and control characters in a name are cleaned", "{{range .Resources}}[{{.}}]{{end}}",
			templating.Group{Resources: []string{"web\n1\x1b[31m", "\u202eweb-2\u200b"}}, "[web 1[31m][web-2]"},
		{"names are sorted after cleaning", "{{.Resources}}", templating.Group{Resources: []string{"\x00z", "a", "\u200bm"}}, "[a m z]"},
		{"a name that cleans to nothing is dropped", "{{.Resources}}", templating.Group{Resources: []string{"\u200b\u2066", "a"}}, "[a]"},
		{"names that clean alike are kept once", "{{.Resources}} {{.ResourceCount}}",
			templating.Group{Resources: []string{"a\u200b", "a", "a\x00"}, ResourceCount: 3}, "[a] 3"},
		{"names that all clean to nothing stand for the event's resource", "{{.Resources}}",
			templating.Group{Resources: []string{"\u200b", "\x00"}}, "[web-7d4b9]"},
		{"of 10,000 names the first 20 in order are shown and the count is kept", list,
			templating.Group{Resources: many, ResourceCount: 10_000}, "20 10000 " + first20},
		{"10,000 names given in descending order give the same 20", list,
			templating.Group{Resources: descending, ResourceCount: 10_000}, "20 10000 " + first20},
		{"10,000 names without a count count as the names shown", "{{len .Resources}} {{.ResourceCount}}",
			templating.Group{Resources: many}, "20 20"},
		{"a long name is cut at the limit of a value", "{{len (index .Resources 0)}}",
			templating.Group{Resources: []string{long}}, fmt.Sprint(templating.MaxValueBytes)},
		{"the subject is cleaned", "{{.Subject}}",
			templating.Group{Subject: templating.Subject{Kind: "Deploy\nment", Namespace: "\u202eshop", Name: "{{.Secret}}\x00" + long}},
			"{Deploy ment shop {{.Secret}}" + long[:templating.MaxValueBytes-len("{{.Secret}}")] + "}"},
	}
	r := templating.NewRenderer()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			given := slices.Clone(tt.group.Resources)
			got, err := r.RenderGroup(tt.template, restart, tt.group)
			if err != nil {
				t.Fatalf("RenderGroup: %v", err)
			}
			if want, err := renderDataWithTextTemplate(tt.template, templating.DataForGroup(restart, tt.group)); want != got || err != nil {
				t.Fatalf("text/template rendered %q, %v; the sandbox %q", want, err, got)
			}
			if got != tt.want {
				t.Fatalf("RenderGroup = %q, want %q", got, tt.want)
			}
			if !slices.Equal(tt.group.Resources, given) {
				t.Fatal("RenderGroup changed the caller's names")
			}
			assertClean(t, templating.DataForGroup(restart, tt.group))
		})
	}
}

func TestDataForGroupIsWhatTheTemplateSees(t *testing.T) {
	g := withGroup(func(g *templating.Group) { g.Resources = append(g.Resources, "web-2x9kq", "\u200b") })
	d := templating.DataForGroup(restart, g)
	if d.Subject != crashLoop.Subject || !slices.Equal(d.Resources, []string{"web-2x9kq", "web-5fj2p", "web-7d4b9"}) || d.ResourceCount != 3 {
		t.Fatalf("DataForGroup = %+v, %q, %d", d.Subject, d.Resources, d.ResourceCount)
	}
	d.Resources[0] = "changed by the caller"
	if again := templating.DataForGroup(restart, g); again.Resources[0] != "web-2x9kq" || g.Resources[1] != "web-2x9kq" {
		t.Fatal("changing the data's names changed the group's")
	}
	one := templating.DataFor(restart)
	if one.Subject != (templating.Subject{Kind: "Pod", Namespace: "shop", Name: "web-7d4b9"}) || !slices.Equal(one.Resources, []string{"web-7d4b9"}) ||
		one.ResourceCount != 1 {
		t.Fatalf("DataFor = %+v, %q, %d", one.Subject, one.Resources, one.ResourceCount)
	}
}

func TestCheckRefusesMisusesOfTheIncident(t *testing.T) {
	tests := []struct {
		name     string
		template string
		wantMsg  string
	}{
		{"an unknown field of the subject is refused with its name", "{{.Subject.Foo}}",
			`prompt:1:10: field "Foo" of .Subject is not allowed (allowed: Kind, Namespace, Name)`},
		{"a field of the event is not a field of the subject", "{{with .Subject}}{{.Reason}}{{end}}", `field "Reason" of .Subject is not allowed`},
		{"a field of a subject's field is refused", "{{.Subject.Name.Foo}}", `"Foo" is a field or method of a string`},
		{"range over the subject is refused", "{{range .Subject}}{{end}}",
			"prompt:1:8: range is allowed over .Metadata, .Tags and .Resources only, not over the subject"},
		{"range over the resource count is refused", "{{range .ResourceCount}}{{end}}", "not over an int"},
		{"range over a name is refused", "{{range index .Resources 0}}{{end}}", "not over a string"},
		{"range over the resources inside a range is refused", "{{range .Metadata}}{{range $.Resources}}{{end}}{{end}}",
			"range inside range is not allowed"},
		{"a field of the resources is refused", "{{.Resources.Foo}}", `"Foo" is a field of a list, which has none: use index or range`},
		{"a field of the resource count is refused", "{{.ResourceCount.Foo}}", `"Foo" is a field of an int`},
		{"len of the subject is refused", "{{len .Subject}}", "len of the subject is not defined"},
		{"slice of the subject is refused", "{{slice .Subject 1}}", "slice of the subject is not allowed"},
		{"upper of the resources is refused", "{{upper .Resources}}", "argument 1 of upper must be a string, not a list"},
		{"truncate with the count as its text is refused", "{{truncate 3 .ResourceCount}}", "argument 2 of truncate must be a string, not an int"},
		{"a method call on the subject is refused", `{{.Subject.Name "x"}}`, "would call a method"},
	}
	r := templating.NewRenderer()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.Check(tt.template)
			if !errors.Is(err, templating.ErrRefused) {
				t.Fatalf("Check = %v, want ErrRefused", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Check error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

func TestCheckAcceptsUsesOfTheIncident(t *testing.T) {
	for _, tmpl := range []string{
		"{{.Subject.Kind}} {{.Subject.Namespace}} {{.Subject.Name}} {{$.Subject.Name}}",
		"{{range $i, $r := .Resources}}{{$i}} {{$r}}{{else}}none{{end}}",
		"{{range .Metadata}}{{.}}{{else}}{{range .Resources}}{{.}}{{end}}{{end}}",
		"{{with .Subject}}{{.Kind}}{{end}} {{with $s := .Subject}}{{$s.Name}}{{end}}",
		"{{if gt .ResourceCount 20}}and {{.ResourceCount}} more{{end}} {{printf \"%d\" .ResourceCount}}",
		"{{slice .Resources 0 1}} {{index .Resources 0}} {{len .Resources}} {{print .Resources}}",
	} {
		if err := templating.NewRenderer().Check(tmpl); err != nil {
			t.Errorf("Check(%q): %v", tmpl, err)
		}
	}
}

func TestRenderGroupMisuseIsReportedWithItsPosition(t *testing.T) {
	tests := []struct {
		name     string
		template string
		wantMsg  string
	}{
		{"index past the last name fails", "{{index .Resources 3}}", "prompt:1:2: error calling index: reflect: slice index out of range"},
		{"index of the resources with a string fails", `{{index .Resources "a"}}`, "cannot index slice/array with type string"},
		{"slice beyond the capacity fails", "{{slice .Resources 0 4}}", "index out of range: 4"},
		{"slice with its bounds crossed fails", "{{slice .Resources 2 1}}", "invalid slice index: 2 > 1"},
		{"comparing the resources fails", "{{eq .Resources .Resources}}", "non-comparable type []string"},
		{"comparing the subject with a string fails", `{{eq .Subject "web"}}`, "incompatible types for comparison"},
		{"comparing the subject with the data fails", `{{eq .Subject $}}`, "non-comparable type templating.Data"},
		{"ordering the subject fails", `{{lt .Subject .Subject}}`, "invalid type for comparison"},
		{"index of the subject fails", `{{index .Subject "Kind"}}`, "can't index item of type templating.Subject"},
	}
	r := templating.NewRenderer()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.RenderGroup(tt.template, restart, crashLoop)
			if err == nil || errors.Is(err, templating.ErrBudgetExceeded) {
				t.Fatalf("RenderGroup = %v, want an error about the misuse", err)
			}
			if out, err := renderDataWithTextTemplate(tt.template, templating.DataForGroup(restart, crashLoop)); err == nil {
				t.Fatalf("text/template rendered %q", out)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("RenderGroup error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

func TestRangeOverTheResourcesIsBoundedLikeAnyRange(t *testing.T) {
	// About 9,000 steps a name: eq reads two 4 KiB strings (a step per 256 bytes) 250 times.
	steps := tenThousand(`{{range .Resources}}`, `{{if eq $.Message $.Description}}{{end}}`, `{{end}}`)
	output := `{{range .Resources}}{{.}}{{end}}`
	twenty := templating.Group{Resources: podNames(templating.MaxResources)}
	long := templating.Group{Resources: make([]string, templating.MaxResources)}
	for i := range long.Resources {
		long.Resources[i] = fmt.Sprintf("%04d", i) + strings.Repeat("n", templating.MaxValueBytes)
	}
	tests := []struct {
		name     string
		template string
		group    templating.Group
		want     error
	}{
		{"a range of long comparisons over one name completes", steps, templating.Group{}, nil},
		{"the same range over twenty names stops at the step budget", steps, twenty, templating.ErrTooManySteps},
		{"twenty names of 4 KiB stop at the output limit", output, long, templating.ErrOutputTooLarge},
	}
	r := templating.NewRendererWithClock(clocktesting.NewFakeClock(time.Now()))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.RenderGroup(tt.template, heavy, tt.group)
			if !errors.Is(err, tt.want) {
				t.Fatalf("RenderGroup = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRenderGroupAllocatesOnlyItsResult(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops pooled render states at random")
	}
	r := templating.NewRenderer()
	tests := []struct {
		name     string
		template string
		group    templating.Group
	}{
		{"a typical prompt in a group", typicalPrompt, crashLoop},
		{"the example prompt of a grouped incident", "Deployment {{.Subject.Name}}: {{.ResourceCount}} pods crash-looping: {{range .Resources}}{{.}} {{end}}",
			crashLoop},
		{"a range over 20 of 10,000 clean names", "{{range $i, $r := .Resources}}{{$i}}={{$r}} {{end}}{{len .Resources}}",
			templating.Group{Resources: podNames(10_000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := r.RenderGroup(tt.template, restart, tt.group); err != nil {
				t.Fatal(err)
			}
			if allocs := testing.AllocsPerRun(100, func() { _, _ = r.RenderGroup(tt.template, restart, tt.group) }); allocs != 1 {
				t.Fatalf("RenderGroup allocated %.1f times per render, want 1 (its result)", allocs)
			}
		})
	}
}

// TestTheDocumentedIncidentPromptRendersAsShown renders the example of "An incident's resources"
// in docs/templates.md for crashLoop and compares it with the output shown there.
func TestTheDocumentedIncidentPromptRendersAsShown(t *testing.T) {
	doc, err := os.ReadFile("../../docs/templates.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "### An incident's resources")
	if !ok {
		t.Fatal(`docs/templates.md has no section "An incident's resources"`)
	}
	blocks := strings.Split(section, "```")
	if len(blocks) < 4 || !strings.HasPrefix(blocks[1], "yaml\nprompt: |\n") {
		t.Fatal("the section does not start with a prompt in YAML and then its output")
	}
	var prompt strings.Builder
	for _, line := range strings.SplitAfter(strings.TrimPrefix(blocks[1], "yaml\nprompt: |\n"), "\n") {
		prompt.WriteString(strings.TrimPrefix(line, "  "))
	}
	want := strings.TrimPrefix(blocks[3], "\n")
	got, err := templating.NewRenderer().RenderGroup(prompt.String(), restart, crashLoop)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("the documented prompt renders as\n%s\nnot as documented:\n%s", got, want)
	}
	many := templating.Group{Subject: crashLoop.Subject, Resources: podNames(25), ResourceCount: 25}
	if got, err := templating.NewRenderer().RenderGroup(prompt.String(), restart, many); err != nil ||
		!strings.Contains(got, "pod-00000, pod-00001, ") || !strings.Contains(got, "pod-00019 (the first 20 of 25).") {
		t.Fatalf("the documented prompt renders 25 members as %q, %v", got, err)
	}
}

func TestRenderGroupIsSafeForConcurrentUse(t *testing.T) {
	r := templating.NewRenderer()
	shared := templating.Group{Subject: crashLoop.Subject, Resources: append(podNames(40), "\u202epod-00000"), ResourceCount: 41}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				own := withGroup(func(own *templating.Group) { own.Resources = append(own.Resources, fmt.Sprintf("web-%d-%d", g, i)) })
				for _, group := range []templating.Group{shared, own} {
					got, err := r.RenderGroup(groupPrompt, restart, group)
					want := templating.DataForGroup(restart, group).Resources
					if err == nil && !strings.Contains(got, strings.Join(want, " ")+" \n") {
						err = fmt.Errorf("render of %q gave %q", want, got)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
