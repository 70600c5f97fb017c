package templating_test

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/khook-dev/khook/domain/templating"
)

func TestSanitizeMakesEventTextSafe(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"plain text is kept", "Back-off restarting failed container", "Back-off restarting failed container"},
		{"letters of any script and emoji are kept", "héllo 世界 😀", "héllo 世界 😀"},
		{"line breaks and tabs become spaces", "a\nb\r\nc\td\u2028e\u2029f", "a b  c d e f"},
		{"control characters are removed", "a\x00b\x1bc\x7fd\u0085e\u009bf", "abcdef"},
		{"bidi overrides, embeddings, isolates and marks are removed", "\u202eevil\u202c \u202ax\u202b \u2066y\u2069\u2067\u2068 \u200e\u200f\u061c", "evil x y "},
		{"zero-width characters, the byte-order mark and the soft hyphen are removed", "in\u200bvis\u200cib\u200dle\ufeff\u2060\u00ad", "invisible"},
		{"tag characters that can hide text are removed", "a\U000E0041\U000E0042\U000E007Fb", "ab"},
		{"a run of invalid UTF-8 becomes one replacement character", "a\xff\xfeb\xc3", "a\uFFFDb\uFFFD"},
		{"long text is cut at a character boundary", strings.Repeat("é", 3000), strings.Repeat("é", templating.MaxValueBytes/2)},
		{"removed characters do not count towards the cut", strings.Repeat("\u200b", 5000) + "abc", "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := templating.Sanitize(tt.in); got != tt.want {
				t.Fatalf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSanitizeMetadataBoundsAndCleansTheMap(t *testing.T) {
	numbered := func(n int, value string) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("k%03d", i)] = value
		}
		return m
	}
	tests := []struct {
		name string
		in   map[string]string
		want map[string]string
	}{
		{"clean metadata is kept as it is", map[string]string{"container": "web", "severity": "critical"},
			map[string]string{"container": "web", "severity": "critical"}},
		{"keys and values are sanitized", map[string]string{"a\u202eb": "x\ny\u200b", "c\x00": "\ufeffd"},
			map[string]string{"ab": "x y", "c": "d"}},
		{"a key that sanitizes to nothing is dropped", map[string]string{"\u200b\u2066": "v", "k": "v"}, map[string]string{"k": "v"}},
		{"an empty key is dropped", map[string]string{"": "v", "k": "v"}, map[string]string{"k": "v"}},
		{"a line break in a key becomes a space", map[string]string{"a\nb": "v"}, map[string]string{"a b": "v"}},
		{"of keys that sanitize alike the first in key order wins", map[string]string{"a\u200b": "second", "a": "first"},
			map[string]string{"a": "first"}},
		{"a long key is cut", map[string]string{strings.Repeat("k", 300): "v"},
			map[string]string{strings.Repeat("k", templating.MaxMetadataKeyBytes): "v"}},
		{"at most MaxMetadataKeys keys are kept, the first in key order", numbered(200, "v"), numbered(templating.MaxMetadataKeys, "v")},
		{"the keys and values together are bounded", numbered(20, strings.Repeat("v", templating.MaxValueBytes)),
			numbered(templating.MaxMetadataBytes/(4+templating.MaxValueBytes), strings.Repeat("v", templating.MaxValueBytes))},
		{"no metadata gives an empty map", nil, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := maps.Clone(tt.in)
			got := templating.SanitizeMetadata(tt.in)
			if got == nil || !maps.Equal(got, tt.want) {
				t.Fatalf("SanitizeMetadata = %q, want %q", got, tt.want)
			}
			got["added"] = "by the caller"
			if !maps.Equal(tt.in, in) {
				t.Fatalf("changing the result changed the input: %q", tt.in)
			}
		})
	}
}
