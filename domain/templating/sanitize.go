package templating

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sanitize makes one piece of event text safe to put in front of an agent, in a prompt or in
// message metadata: line breaks and tabs (\n \r \t U+2028 U+2029) become spaces; control
// characters (Cc) and Unicode format characters (Cf: bidi overrides and isolates, zero-width
// spaces and joiners, the byte-order mark, tag characters, …) are removed; invalid UTF-8 becomes
// U+FFFD; and the result is cut to MaxValueBytes at a character boundary.
func Sanitize(s string) string { return sanitizeN(s, MaxValueBytes) }

// SanitizeMetadata returns a new map holding m's keys and values, each sanitized like Sanitize
// (keys cut at MaxMetadataKeyBytes), bounded to MaxMetadataKeys keys and MaxMetadataBytes in
// all. Keys are taken in sorted order, so what is kept does not depend on map order; a key that
// sanitizes to nothing is dropped, and when two keys sanitize to the same one the first wins.
// This is what templates see as .Metadata and .Tags; use it for metadata sent to an agent too.
func SanitizeMetadata(m map[string]string) map[string]string {
	clean, same := sanitizeMap(m)
	if !same {
		return clean
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// SanitizeOwnedMetadata is SanitizeMetadata for a map the caller has just built and owns: it
// returns m itself when nothing in it needs changing, and a sanitized copy otherwise.
func SanitizeOwnedMetadata(m map[string]string) map[string]string {
	if len(m) == 0 {
		return map[string]string{}
	}
	clean, _ := sanitizeMap(m)
	return clean
}

// emptyMap stands for a missing map in template data. Templates cannot modify maps.
var emptyMap = map[string]string{}

// sanitizeMap is SanitizeMetadata that returns m itself (same is true) when nothing in it needs
// changing, and emptyMap for an empty m: the result must not be modified.
func sanitizeMap(m map[string]string) (clean map[string]string, same bool) {
	if len(m) == 0 {
		return emptyMap, false
	}
	if len(m) <= MaxMetadataKeys {
		total, clean := 0, true
		for k, v := range m {
			total += len(k) + len(v)
			if k == "" || len(k) > MaxMetadataKeyBytes || !isClean(k, MaxMetadataKeyBytes) || !isClean(v, MaxValueBytes) {
				clean = false
				break
			}
		}
		if clean && total <= MaxMetadataBytes {
			return m, true
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(map[string]string, min(len(m), MaxMetadataKeys))
	total := 0
	for _, raw := range keys {
		k := sanitizeN(raw, MaxMetadataKeyBytes)
		if k == "" {
			continue
		}
		if _, taken := out[k]; taken {
			continue
		}
		v := Sanitize(m[raw])
		if total+len(k)+len(v) > MaxMetadataBytes {
			break
		}
		total += len(k) + len(v)
		out[k] = v
		if len(out) == MaxMetadataKeys {
			break
		}
	}
	return out, false
}

// isClean reports whether sanitizeN(s, limit) would return s unchanged.
func isClean(s string, limit int) bool {
	if len(s) > limit {
		return false
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || dropOrSpace(r) {
			return false
		}
		i += size
	}
	return true
}

// dropOrSpace reports whether sanitizing changes the non-ASCII rune r.
func dropOrSpace(r rune) bool {
	return r == '\u2028' || r == '\u2029' || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

// sanitizeN sanitizes s and cuts the result to at most limit bytes, at a character boundary.
// It reads s only up to the cut and allocates only when something changes.
func sanitizeN(s string, limit int) string {
	var b strings.Builder
	building := false // b holds the output since the first change
	for i := 0; i < len(s); {
		if building && b.Len() > limit || !building && i > limit {
			break
		}
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			if building {
				b.WriteByte(c)
			}
			i++
			continue
		}
		size, repl, keep := 1, "", false
		if c < utf8.RuneSelf {
			if c == '\n' || c == '\r' || c == '\t' {
				repl = " "
			}
		} else {
			r, sz := utf8.DecodeRuneInString(s[i:])
			size = sz
			switch {
			case r == utf8.RuneError && sz == 1:
				// A run of invalid bytes becomes one replacement character, as strings.ToValidUTF8.
				for i+size < len(s) {
					if r, sz := utf8.DecodeRuneInString(s[i+size:]); r != utf8.RuneError || sz != 1 {
						break
					}
					size++
				}
				repl = "\uFFFD"
			case r == '\u2028' || r == '\u2029':
				repl = " "
			case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			default:
				keep = true
			}
		}
		if keep {
			if building {
				b.WriteString(s[i : i+size])
			}
			i += size
			continue
		}
		if !building {
			building = true
			b.Grow(min(len(s), limit+utf8.UTFMax))
			b.WriteString(s[:i])
		}
		b.WriteString(repl)
		i += size
	}
	if !building {
		return truncateUTF8(s, limit)
	}
	return truncateUTF8(b.String(), limit)
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// emptyList stands for no member names in template data. Templates cannot modify slices.
var emptyList = []string{}

// nameCandidates is how many of the smallest raw names boundNames sanitizes, at most, to find
// MaxResources distinct non-empty ones: names that sanitize to nothing or to another name's
// text are dropped, so a list whose first names in order are mostly such may show fewer.
const nameCandidates = 4 * MaxResources

// maxRawNameBytes is how much of one raw name boundNames reads.
const maxRawNameBytes = 4 * MaxValueBytes

// boundNames returns names as a template sees them: each sanitized like event text, without
// empty names and duplicates, the first MaxResources in order, sorted. It returns names itself,
// its capacity cut to its length, when that is already so; otherwise a slice of buf. It reads
// each name once, in time linear in len(names), and allocates only for names it cleans (at most
// nameCandidates of them), so that what it keeps never depends on the order of names.
func boundNames(names []string, buf *[MaxResources]string) []string {
	if len(names) <= MaxResources && sortedAndClean(names) {
		return names[:len(names):len(names)]
	}
	// The nameCandidates smallest distinct raw names, ascending.
	var cand [nameCandidates]string
	n := 0
	for _, raw := range names {
		raw = truncateUTF8(raw, maxRawNameBytes)
		if n == len(cand) && raw >= cand[n-1] {
			continue
		}
		i, found := slices.BinarySearch(cand[:n], raw)
		if found {
			continue
		}
		if n < len(cand) {
			n++
		}
		copy(cand[i+1:n], cand[i:n-1])
		cand[i] = raw
	}
	kept := 0
	for _, raw := range cand[:n] {
		s := Sanitize(raw)
		if s == "" || slices.Contains(buf[:kept], s) {
			continue
		}
		buf[kept] = s
		if kept++; kept == MaxResources {
			break
		}
	}
	slices.Sort(buf[:kept]) // cleaning may have changed their order
	return buf[:kept:kept]
}

// sortedAndClean reports whether names are non-empty, strictly ascending and need no cleaning.
func sortedAndClean(names []string) bool {
	for i, s := range names {
		if s == "" || i > 0 && names[i-1] >= s || !isClean(s, MaxValueBytes) {
			return false
		}
	}
	return true
}
