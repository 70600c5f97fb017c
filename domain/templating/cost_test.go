package templating

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// tenK repeats unit inside head…tail as often as fits in 10,000 characters, leaving room for
// two more.
func tenK(head, unit, tail string) string {
	return head + strings.Repeat(unit, (MaxTemplateCharacters-2-len(head)-len(tail))/len(unit)) + tail
}

// liveHeap is the heap's live bytes after two collections.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestCostIsTheHeapATemplateHolds compiles prompts of many shapes, from plain text to the most
// expensive one the sandbox takes (arguments in eight parentheses, about 94 bytes per
// character), and holds Template.Cost to what the heap grows by when they are kept.
func TestCostIsTheHeapATemplateHolds(t *testing.T) {
	const typical = `Pod {{.ResourceName}} in namespace {{.Namespace}} restarted at {{.Timestamp}}.
Reason: {{.Reason}}. Message: {{.Message}}
{{range $k, $v := .Metadata}}{{$k}}={{$v}} {{end}}
{{if eq .Severity "critical"}}Page the on-call.{{else if .Metadata.team}}Tell {{.Metadata.team}}.{{end}}
Find the root cause and suggest a fix. Be brief: {{printf "%-20s" .ResourceKind}} {{truncate 200 .Description | quote}}
`
	tests := []struct {
		name string
		text string
	}{
		{"plain text costs its length", tenK("", "Find the root cause. ", "")},
		{"a typical prompt", typical},
		{"a typical prompt repeated to 10,000 characters", tenK("", typical, "")},
		{"fields", tenK("", "{{.Reason}}", "")},
		{"constants", tenK("", "{{0}}", "")},
		{"arguments of print", tenK("{{print", " 0", "}}")},
		{"dots", tenK("{{print", " .", "}}")},
		{"string constants", tenK("{{print", ` ""`, "}}")},
		{"arguments in parentheses", tenK("{{print", " (0)", "}}")},
		{"arguments in eight parentheses", tenK("{{print", " ((((((((0))))))))", "}}")},
		{"comparisons", tenK("{{print", " (eq 0 0)", "}}")},
		{"a long pipeline", tenK("{{0", "|print", "}}")},
		{"variables", tenK("", "{{$a:=0}}", "")},
		{"field chains", tenK("{{print", " $.Metadata.a", "}}")},
		{"empty ifs", tenK("", "{{if 0}}{{end}}", "")},
		{"ifs with else", tenK("", "{{if 0}}a{{else}}b{{end}}", "")},
		{"ranges", tenK("", "{{range .Tags}}{{end}}", "")},
		{"subject fields", tenK("", "{{.Subject.Name}}", "")},
		{"ranges over the resources with an index and a name", tenK("", "{{range $i, $r := .Resources}}{{$r}}{{end}}", "")},
		{"resource counts compared", tenK("", "{{if gt .ResourceCount 1}}{{end}}", "")},
		{"trimmed actions", tenK("", "{{- 0}}", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const copies = 16
			keep := make([]*Template, copies)
			before := liveHeap()
			for i := range keep {
				text := tt.text + strconv.Itoa(i) // a text of its own, as each Hook's is
				tmpl, err := compile(text)
				if err != nil {
					t.Fatal(err)
				}
				keep[i] = tmpl
			}
			grew := float64(liveHeap()-before) / copies
			cost := float64(keep[0].Cost())
			runtime.KeepAlive(keep)
			t.Logf("%d characters: cost %.0f bytes (%.1f per character), heap %.0f bytes per template", len(tt.text), cost, cost/float64(len(tt.text)), grew)
			if ratio := cost / grew; ratio < 0.95 || ratio > 1.25 {
				t.Errorf("Cost = %.0f bytes, but the heap grew by %.0f bytes per template (ratio %.2f, want 0.95 to 1.25)", cost, grew, ratio)
			}
			if tt.name == "arguments in eight parentheses" && cost/float64(len(tt.text)) < 90 {
				t.Errorf("the most expensive shape costs %.1f bytes per character; has a cheaper program made another shape the worst?", cost/float64(len(tt.text)))
			}
		})
	}
}
