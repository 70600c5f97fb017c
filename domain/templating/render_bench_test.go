package templating_test

import (
	"testing"

	"github.com/khook-dev/khook/domain/templating"
)

const benchPrompt = `Pod {{.ResourceName}} in namespace {{.Namespace}} restarted at {{.Timestamp}}.
Reason: {{.Reason}}. Message: {{.Message}}
{{range $k, $v := .Metadata}}{{$k}}={{$v}} {{end}}
Find the root cause and suggest a fix.`

// BenchmarkRenderCached renders a typical prompt whose template is already compiled and checked.
func BenchmarkRenderCached(b *testing.B) {
	r := templating.NewRenderer()
	if _, err := r.Render(benchPrompt, restart); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Render(benchPrompt, restart); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheck parses and walks the prompt against the allow-list (what a Hook update costs).
func BenchmarkCheck(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := templating.NewRenderer().Check(benchPrompt); err != nil {
			b.Fatal(err)
		}
	}
}

// typicalPrompt is the five-field prompt of the performance issue: about one microsecond per
// render is the goal, so that 100 matching Hooks fit in 120 µs per event.
const typicalPrompt = `Pod {{.ResourceName}} in {{.Namespace}} restarted at {{.Timestamp}}. Reason: {{.Reason}}. Message: {{.Message}}`

// BenchmarkRenderTypical renders the typical five-field prompt from the cache.
func BenchmarkRenderTypical(b *testing.B) {
	r := templating.NewRenderer()
	if _, err := r.Render(typicalPrompt, restart); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Render(typicalPrompt, restart); err != nil {
			b.Fatal(err)
		}
	}
}

// groupPrompt is a prompt about an incident: its subject, count and members.
const groupPrompt = `Deployment {{.Subject.Name}} in {{.Subject.Namespace}}: {{.ResourceCount}} pods crash-looping: {{range .Resources}}{{.}} {{end}}
First: {{.ResourceName}}. Reason: {{.Reason}}. Message: {{.Message}}`

// BenchmarkRenderGroup renders the incident prompt for a Deployment of three Pods.
func BenchmarkRenderGroup(b *testing.B) {
	benchmarkRenderGroup(b, crashLoop)
}

// BenchmarkRenderGroupOf10000 renders the incident prompt for 10,000 members (20 shown).
func BenchmarkRenderGroupOf10000(b *testing.B) {
	benchmarkRenderGroup(b, templating.Group{Subject: crashLoop.Subject, Resources: podNames(10_000), ResourceCount: 10_000})
}

func benchmarkRenderGroup(b *testing.B, g templating.Group) {
	r := templating.NewRenderer()
	if _, err := r.RenderGroup(groupPrompt, restart, g); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.RenderGroup(groupPrompt, restart, g); err != nil {
			b.Fatal(err)
		}
	}
}
