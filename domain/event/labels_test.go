package event_test

import (
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
)

func TestASelectorMatchesTheLabelsElseTheMetadata(t *testing.T) {
	podLabels := map[string]string{"app": "web", "tier": "critical"}
	meta := map[string]string{"container": "app", "restartCount": "3"}
	tests := []struct {
		name string
		e    event.Event
		want map[string]string
	}{
		{"a Pod's event offers the Pod's labels, not its metadata", event.Event{Labels: podLabels, Metadata: meta}, podLabels},
		{"a resource known to have no labels offers none, not its metadata",
			event.Event{Labels: event.KnownLabels(nil), Metadata: meta}, map[string]string{}},
		{"a plugin's event without labels offers its metadata", event.Event{Metadata: meta}, meta},
		{"an event with neither offers nothing", event.Event{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.e.SelectorLabels()
			if !maps.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Fatalf("SelectorLabels() = %v, want %v", got, tt.want)
			}
			if len(got) > 0 && !sameMap(got, tt.want) {
				t.Fatal("SelectorLabels() copied the map instead of sharing it")
			}
			if n := testing.AllocsPerRun(100, func() { _ = tt.e.SelectorLabels() }); n != 0 {
				t.Fatalf("SelectorLabels() allocates %v times, want none", n)
			}
		})
	}
}

func TestKnownLabelsAreTheSourcesOwnMapOrAnEmptyOne(t *testing.T) {
	m := map[string]string{"app": "web"}
	if got := event.KnownLabels(m); !sameMap(got, m) {
		t.Fatal("KnownLabels copied the map")
	}
	if got := event.KnownLabels(nil); got == nil || len(got) != 0 {
		t.Fatalf("KnownLabels(nil) = %#v, want an empty map", got)
	}
	if n := testing.AllocsPerRun(100, func() { _ = event.KnownLabels(nil) }); n != 0 {
		t.Fatalf("KnownLabels(nil) allocates %v times, want none", n)
	}
}

// Labels that fit are kept as they are, shared; labels that do not are bounded without changing
// what any selector answers on them, except on labels left out beyond the count and bytes.
func TestLabelsAreBoundedWithoutChangingWhatASelectorAnswers(t *testing.T) {
	longKey := "example.com/" + strings.Repeat("k", event.MaxLabelKeyBytes)
	longValue := strings.Repeat("v", event.MaxLabelValueBytes+1)
	many := map[string]string{}
	for i := range 2 * event.MaxLabels {
		many[fmt.Sprintf("label-%03d", i)] = "x"
	}
	heavy := map[string]string{}
	for i := range event.MaxLabels {
		heavy[fmt.Sprintf("%s/n%02d", strings.Repeat("p", 200), i)] = strings.Repeat("v", event.MaxLabelValueBytes)
	}
	// Selectors on every key and value a test uses: what each answers must not change.
	selectorsOn := func(m map[string]string) []hook.Selector {
		var out []hook.Selector
		for k, v := range m {
			if len(k) > event.MaxLabelKeyBytes {
				continue // no selector can name it (the Hook CRD refuses such a key)
			}
			values := []string{"critical", "web"}
			if len(v) <= event.MaxLabelValueBytes {
				values = append(values, v)
			}
			out = append(out, hook.Selector{MatchLabels: map[string]string{k: values[len(values)-1]}})
			for _, op := range []hook.Operator{hook.In, hook.NotIn} {
				out = append(out, hook.Selector{MatchExpressions: []hook.Requirement{{Key: k, Operator: op, Values: values}}})
			}
			for _, op := range []hook.Operator{hook.Exists, hook.DoesNotExist} {
				out = append(out, hook.Selector{MatchExpressions: []hook.Requirement{{Key: k, Operator: op}}})
			}
		}
		return out
	}
	tests := []struct {
		name        string
		labels      map[string]string
		fits        bool
		wantLen     int
		sameAnswers bool // every selector answers the same on the bounded labels
	}{
		{"a Deployment's Pod's labels fit and are kept as they are",
			map[string]string{"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "web-prod", "pod-template-hash": "7d9f8b6c5d", "team": "payments"},
			true, 4, true},
		{"no labels fit", map[string]string{}, true, 0, true},
		{"a key longer than a label key is dropped", map[string]string{"app": "web", longKey: "x"}, false, 1, true},
		{"a value longer than a label value stands as too long", map[string]string{"app": "web", "url": longValue}, false, 2, true},
		{"beyond the count, the first labels by key are kept", many, false, event.MaxLabels, false},
		{"beyond the bytes, as many labels as fit are kept", heavy, false, event.MaxLabelsBytes / (200 + 4 + event.MaxLabelValueBytes), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := maps.Clone(tt.labels)
			if got := event.LabelsFit(tt.labels); got != tt.fits {
				t.Fatalf("LabelsFit = %v, want %v", got, tt.fits)
			}
			b := event.BoundedLabels(tt.labels)
			if !event.LabelsFit(b) || len(b) != tt.wantLen {
				t.Fatalf("bounded to %d labels (fit: %v), want %d", len(b), event.LabelsFit(b), tt.wantLen)
			}
			if !maps.Equal(tt.labels, before) {
				t.Fatal("bounding changed the source's map")
			}
			if tt.fits {
				if !sameMap(b, tt.labels) {
					t.Fatal("labels that fit were copied")
				}
				if n := testing.AllocsPerRun(100, func() { _ = event.BoundedLabels(tt.labels) }); n != 0 {
					t.Fatalf("bounding labels that fit allocates %v times, want none", n)
				}
			}
			for k, v := range b {
				if want := tt.labels[k]; v != want && (v != event.LabelValueTooLong || len(want) <= event.MaxLabelValueBytes) {
					t.Fatalf("label %s = %q, from %q", k, v, want)
				}
			}
			if tt.sameAnswers {
				for _, s := range selectorsOn(tt.labels) {
					if s.Matches(tt.labels) != s.Matches(b) {
						t.Errorf("selector %+v answers %v on the labels and %v on the bounded ones", s, s.Matches(tt.labels), s.Matches(b))
					}
				}
			}
			if again := event.BoundedLabels(tt.labels); !maps.Equal(again, b) {
				t.Fatal("the same labels were bounded differently")
			}
		})
	}
	if b := event.BoundedLabels(many); b["label-000"] != "x" || b[fmt.Sprintf("label-%03d", event.MaxLabels-1)] != "x" {
		t.Fatalf("the labels kept are not the first by key: %v", b)
	}
}

func TestAnEventsLabelsAreBoundedWithIt(t *testing.T) {
	labels := map[string]string{"app": "web", "url": strings.Repeat("v", 100)}
	e := event.Event{Message: "m", Labels: labels}
	if e.Fits() {
		t.Fatal("Fits = true for an event whose label value is longer than a label value")
	}
	b := e.Bounded()
	if !b.Fits() || b.Labels["url"] != event.LabelValueTooLong || b.Labels["app"] != "web" {
		t.Fatalf("bounded labels = %v", b.Labels)
	}
	small := event.Event{Message: "m", Labels: map[string]string{"app": "web"}}
	if b := small.Bounded(); !sameMap(b.Labels, small.Labels) {
		t.Fatal("labels that fit were copied")
	}
	if got := testing.AllocsPerRun(100, func() { _ = small.Bounded() }); got != 0 {
		t.Fatalf("bounding an event with labels that fit allocates %v times, want none", got)
	}
}

// sameMap says whether a and b are the same map, not copies.
func sameMap(a, b map[string]string) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}
