package text_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/khook-dev/khook/domain/text"
)

func TestJSONLenIsWhatEncodingJSONWrites(t *testing.T) {
	for _, s := range []string{"", "plain", `"quoted" \ back`, "<&>", "\x01\n\t\b\f\r", "é日本\u2028\u2029", "bad \xff\xfe utf-8", strings.Repeat("<", 100)} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := text.JSONLen(s); got != len(b) {
			t.Errorf("JSONLen(%q) = %d, encoding/json writes %d bytes", s, got, len(b))
		}
	}
}

func TestCutNeverSplitsACharacter(t *testing.T) {
	tests := []struct {
		name string
		s    string
		n    int
		want string
	}{
		{"a string within the limit is kept", "abc", 3, "abc"},
		{"a longer one is cut at the limit", "abcdef", 3, "abc"},
		{"a cut inside a character moves before it", "aé", 2, "a"},
		{"a limit of zero keeps nothing", "é", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := text.Cut(tt.s, tt.n); got != tt.want {
				t.Fatalf("Cut(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
			}
		})
	}
}
