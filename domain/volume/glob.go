package volume

// globMatch says whether s matches pattern, in which '*' matches any run of bytes (none
// included) and every other byte matches itself; with fold, ASCII letters match regardless of
// case. An empty pattern matches anything. Patterns and subjects are compared byte by byte,
// which for patterns whose only special character is the ASCII '*' is the same as comparing
// them character by character in UTF-8. It allocates nothing and takes at most
// len(pattern)*len(s) steps.
func globMatch(pattern, s string, fold bool) bool {
	if pattern == "" {
		return true
	}
	p, i := 0, 0
	star, restart := -1, 0 // the last '*' seen, and where in s its run would end next
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			if p == len(pattern)-1 {
				return true // a final '*' takes the rest of s
			}
			star, restart = p, i
			p++
		case p < len(pattern) && sameByte(pattern[p], s[i], fold):
			p++
			i++
		case star >= 0:
			// The last '*' takes one more byte of s, and the rest of the pattern is tried after it.
			restart++
			p, i = star+1, restart
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func sameByte(a, b byte, fold bool) bool {
	if a == b {
		return true
	}
	if !fold {
		return false
	}
	return lower(a) == lower(b) && lower(a) >= 'a' && lower(a) <= 'z'
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
