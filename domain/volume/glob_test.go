package volume

import (
	"strings"
	"testing"
)

func TestGlobs(t *testing.T) {
	tests := []struct {
		name, pattern, s string
		fold, want       bool
	}{
		{"an empty pattern matches anything", "", "checkout", false, true},
		{"an empty pattern matches the empty string", "", "", false, true},
		{"a literal matches itself", "checkout", "checkout", false, true},
		{"a literal does not match a longer string", "checkout", "checkout-v2", false, false},
		{"a literal does not match a prefix of itself", "checkout-v2", "checkout", false, false},
		{"a star alone matches anything", "*", "anything at all", false, true},
		{"a star alone matches the empty string", "*", "", false, true},
		{"a trailing star matches a prefix", "pod-*", "pod-restart", false, true},
		{"a trailing star matches the prefix alone", "pod-*", "pod-", false, true},
		{"a trailing star needs the prefix", "pod-*", "oom-kill", false, false},
		{"a leading star matches a suffix", "*-prod", "shop-prod", false, true},
		{"a leading star needs the suffix", "*-prod", "shop-prod-2", false, false},
		{"a star in the middle matches any run", "web-*-db", "web-eu-west-db", false, true},
		{"a star in the middle needs both ends", "web-*-db", "web-eu-west-cache", false, false},
		{"several stars backtrack", "a*b*c", "axxbyyc", false, true},
		{"several stars backtrack past false starts", "*ab*cd", "aabxcdcd", false, true},
		{"several stars need every part in order", "a*b*c", "acb", false, false},
		{"consecutive stars are one", "a**c", "abc", false, true},
		{"other characters are literal", "a?c", "abc", false, false},
		{"case matters without fold", "Deployment", "deployment", false, false},
		{"fold ignores the case of letters", "deploy*", "Deployment", true, true},
		{"fold does not equate non-letters", "[", "{", true, false},
		{"multi-byte characters match themselves", "café-*", "café-1", false, true},
		{"a star matches multi-byte characters", "*é", "naïveé", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := globMatch(tt.pattern, tt.s, tt.fold); got != tt.want {
				t.Fatalf("globMatch(%q, %q, %v) = %v, want %v", tt.pattern, tt.s, tt.fold, got, tt.want)
			}
		})
	}
}

func TestGlobsAllocateNothingAndStayQuickOnTheWorstPatterns(t *testing.T) {
	pattern := strings.Repeat("*a", 126) + "*b" // 254 bytes: the longest glob, all stars
	s := strings.Repeat("a", 253)
	if allocs := testing.AllocsPerRun(100, func() { globMatch(pattern, s, true) }); allocs != 0 {
		t.Fatalf("globMatch allocates %v times a call, want 0", allocs)
	}
	if globMatch(pattern, s, false) {
		t.Fatal("the pattern needs a final b")
	}
}

func BenchmarkGlobWorstCase(b *testing.B) {
	pattern := strings.Repeat("*a", 126) + "*b"
	s := strings.Repeat("a", 253)
	b.ReportAllocs()
	for b.Loop() {
		globMatch(pattern, s, false)
	}
}
