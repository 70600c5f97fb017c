package settings

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/khook-dev/khook/ports"
)

// Reader reads settings by key and collects what is wrong; Err reports it. A Reader is used
// by one goroutine.
type Reader struct {
	s    ports.Settings
	read map[string]bool
	errs []error
}

// New returns a Reader of s (nil means no settings).
func New(s ports.Settings) *Reader { return &Reader{s: s, read: map[string]bool{}} }

func (r *Reader) get(key string) (any, bool) {
	r.read[key] = true
	v, ok := r.s[key]
	if ok && v == nil { // "key:" with no value reads as absent
		return nil, false
	}
	return v, ok
}

func (r *Reader) fail(key string, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("setting %q: %s", key, fmt.Sprintf(format, args...)))
}

// String returns the string at key, or def when it is absent.
func (r *Reader) String(key, def string) string {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	s, isString := v.(string)
	if !isString {
		r.fail(key, "want a string, got %s", describe(v))
		return def
	}
	return s
}

// RequiredString returns the non-empty string at key, and reports it missing otherwise.
func (r *Reader) RequiredString(key string) string {
	if v, ok := r.s[key]; !ok || v == nil {
		r.read[key] = true
		r.fail(key, "is required")
		return ""
	}
	s := r.String(key, "")
	if _, isString := r.s[key].(string); isString && strings.TrimSpace(s) == "" {
		r.fail(key, "must not be empty")
	}
	return s
}

// Duration returns the duration at key ("30s", "1m30s"), or def when it is absent. It must be
// positive.
func (r *Reader) Duration(key string, def time.Duration) time.Duration {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	s, isString := v.(string)
	if !isString {
		r.fail(key, "want a duration such as 30s or 1m, got %s", describe(v))
		return def
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		r.fail(key, "%q is not a duration (e.g. 500ms, 30s, 1m)", s)
		return def
	}
	if d <= 0 {
		r.fail(key, "%q must be positive", s)
		return def
	}
	return d
}

// Int returns the integer at key, or def when it is absent. A string of digits (as an
// expanded ${VAR} gives) is read as a number.
func (r *Reader) Int(key string, def int) int {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	case uint64:
		if n <= math.MaxInt {
			return int(n)
		}
	case float64:
		if n == math.Trunc(n) && math.Abs(n) <= math.MaxInt32 {
			return int(n)
		}
	case string:
		if i, err := strconv.Atoi(strings.TrimSpace(n)); err == nil {
			return i
		}
	}
	r.fail(key, "want a whole number, got %s", describe(v))
	return def
}

// Bool returns the boolean at key ("true"/"false" strings included), or def when it is absent.
func (r *Reader) Bool(key string, def bool) bool {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	switch b := v.(type) {
	case bool:
		return b
	case string:
		if p, err := strconv.ParseBool(strings.TrimSpace(b)); err == nil {
			return p
		}
	}
	r.fail(key, "want true or false, got %s", describe(v))
	return def
}

// List returns the list at key, or nil when it is absent; a value that is not a list is
// reported. The caller reads its items (and reports them with Fail).
func (r *Reader) List(key string) []any {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	list, isList := v.([]any)
	if !isList {
		r.fail(key, "want a list, got %s", describe(v))
		return nil
	}
	return list
}

// Value returns the value at key as the configuration gives it, and whether it is present (a
// key with no value is absent, as for every method), for a setting whose shape or rules no
// other method has: the caller checks it and reports what is wrong with Fail. The key counts
// as known.
func (r *Reader) Value(key string) (any, bool) { return r.get(key) }

// Fail records a problem with key that the caller found, such as an invalid URL.
func (r *Reader) Fail(key string, format string, args ...any) { r.fail(key, format, args...) }

// Err reports every problem found, and every setting that was never read (a misspelt key),
// naming the settings that are known.
func (r *Reader) Err() error {
	var unknown []string
	for k := range r.s {
		if !r.read[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	errs := append([]error(nil), r.errs...)
	if len(unknown) > 0 {
		known := make([]string, 0, len(r.read))
		for k := range r.read {
			known = append(known, k)
		}
		sort.Strings(known)
		for _, k := range unknown {
			errs = append(errs, fmt.Errorf("unknown setting %q (known: %s)", k, strings.Join(known, ", ")))
		}
	}
	return errors.Join(errs...)
}

func describe(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	default:
		return fmt.Sprintf("%v (%T)", v, v)
	}
}
