package hook

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/khook-dev/khook/domain/event"
)

// Operator relates a label to the values of a Requirement.
type Operator string

// The operators of a label selector's matchExpressions, as Kubernetes spells them.
const (
	In           Operator = "In"
	NotIn        Operator = "NotIn"
	Exists       Operator = "Exists"
	DoesNotExist Operator = "DoesNotExist"
)

// Limits of a label, as the API server enforces them on every object's labels.
const (
	MaxLabelNameLength   = 63  // the name part of a key, and a value
	MaxLabelPrefixLength = 253 // the DNS-1123 subdomain before the '/' of a key
	MaxLabelValueLength  = 63
)

// Requirement is one of a selector's matchExpressions: the label Key related to Values by
// Operator.
type Requirement struct {
	Key      string
	Operator Operator
	Values   []string
}

// Selector is a Kubernetes label selector: every one of MatchLabels (key equals value) and of
// MatchExpressions must hold. The zero Selector matches every set of labels, as an empty
// metav1.LabelSelector does; "no selector" in a Hook means the same.
type Selector struct {
	MatchLabels      map[string]string
	MatchExpressions []Requirement
}

// Empty says whether s matches everything because it requires nothing.
func (s Selector) Empty() bool { return len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 }

// Matches says whether labels satisfy s, with Kubernetes' semantics (k8s.io/apimachinery's
// labels.Requirement.Matches): In needs the key with one of the values; NotIn holds when the key
// is missing or has none of the values; Exists needs the key, with any value; DoesNotExist
// needs it absent. A nil labels map is a resource without labels. s must be valid (Validate):
// an unknown operator matches nothing. Matches allocates nothing.
func (s Selector) Matches(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for i := range s.MatchExpressions {
		if !s.MatchExpressions[i].Matches(labels) {
			return false
		}
	}
	return true
}

// Matches says whether labels satisfy r.
func (r *Requirement) Matches(labels map[string]string) bool {
	v, ok := labels[r.Key]
	switch r.Operator {
	case In:
		return ok && contains(r.Values, v)
	case NotIn:
		return !ok || !contains(r.Values, v)
	case Exists:
		return ok
	case DoesNotExist:
		return !ok
	}
	return false
}

func contains(values []string, v string) bool {
	for _, x := range values {
		if x == v {
			return true
		}
	}
	return false
}

// ErrInvalidSelector is what every InvalidSelectorError is (errors.Is).
var ErrInvalidSelector = errors.New("invalid label selector")

// InvalidSelectorError says which field of a selector Kubernetes would refuse, and why. Field is
// the path below the selector, e.g. "matchExpressions[1].operator" or "matchLabels[app]"; a
// caller puts the selector's own path before it.
type InvalidSelectorError struct {
	Field string
	Value string
	Why   string
}

func (e *InvalidSelectorError) Error() string {
	return fmt.Sprintf("%s: %q %s", e.Field, cutValue(e.Value), e.Why)
}

// Is makes errors.Is(err, ErrInvalidSelector) hold.
func (e *InvalidSelectorError) Is(target error) bool { return target == ErrInvalidSelector }

// Validate says whether Kubernetes would accept s (metav1.LabelSelectorAsSelector): keys are
// qualified names (an optional DNS-1123 subdomain prefix and '/', then at most 63 letters,
// digits, '-', '_' and '.', starting and ending with a letter or digit), values at most 63 such
// characters or empty, operators In, NotIn, Exists or DoesNotExist, In and NotIn with at least
// one value, Exists and DoesNotExist with none. It returns the first problem as an
// *InvalidSelectorError: the matchLabels entry with the smallest key first, then the
// matchExpressions in order.
func (s Selector) Validate() error {
	var first *InvalidSelectorError
	var firstKey string
	for k, v := range s.MatchLabels {
		if first != nil && k >= firstKey {
			continue
		}
		field := "matchLabels[" + cutValue(k) + "]"
		if why := labelKey(k); why != "" {
			first, firstKey = &InvalidSelectorError{Field: field, Value: k, Why: why}, k
		} else if why := labelValue(v); why != "" {
			first, firstKey = &InvalidSelectorError{Field: field, Value: v, Why: why}, k
		}
	}
	if first != nil {
		return first
	}
	for i, r := range s.MatchExpressions {
		field := fmt.Sprintf("matchExpressions[%d]", i)
		if why := labelKey(r.Key); why != "" {
			return &InvalidSelectorError{Field: field + ".key", Value: r.Key, Why: why}
		}
		switch r.Operator {
		case In, NotIn:
			if len(r.Values) == 0 {
				return &InvalidSelectorError{Field: field + ".values", Value: "", Why: fmt.Sprintf("must have at least one value for operator %s", r.Operator)}
			}
		case Exists, DoesNotExist:
			if len(r.Values) != 0 {
				return &InvalidSelectorError{Field: field + ".values", Value: strings.Join(r.Values, ","), Why: fmt.Sprintf("must be empty for operator %s", r.Operator)}
			}
		default:
			return &InvalidSelectorError{Field: field + ".operator", Value: string(r.Operator), Why: "is not In, NotIn, Exists or DoesNotExist"}
		}
		for j, v := range r.Values {
			if why := labelValue(v); why != "" {
				return &InvalidSelectorError{Field: fmt.Sprintf("%s.values[%d]", field, j), Value: v, Why: why}
			}
		}
	}
	return nil
}

// labelKey says why k is not a label key (a qualified name), or "" when it is one.
func labelKey(k string) string {
	name := k
	if prefix, rest, found := strings.Cut(k, "/"); found {
		if strings.Contains(rest, "/") {
			return "is not a label key: it has more than one '/'"
		}
		if prefix == "" {
			return "is not a label key: the prefix before '/' is empty"
		}
		if why := dns1123Subdomain(prefix); why != "" {
			return "is not a label key: its prefix " + why
		}
		name = rest
	}
	switch {
	case name == "":
		return "is not a label key: the name is empty"
	case len(name) > MaxLabelNameLength:
		return fmt.Sprintf("is not a label key: the name is longer than %d characters", MaxLabelNameLength)
	case !isLabelName(name):
		return "is not a label key: the name must be letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
	}
	return ""
}

// labelValue says why v is not a label value, or "" when it is one (the empty value is).
func labelValue(v string) string {
	switch {
	case len(v) > MaxLabelValueLength:
		return fmt.Sprintf("is not a label value: longer than %d characters", MaxLabelValueLength)
	case v != "" && !isLabelName(v):
		return "is not a label value: it must be empty or letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
	}
	return ""
}

// isLabelName says whether s is ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], the shape of a label
// key's name part and of a non-empty label value.
func isLabelName(s string) bool {
	if s == "" || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// Same says whether s and o select the same resources as written: the same matchLabels, and the
// same matchExpressions in the same order with the same values.
func (s Selector) Same(o Selector) bool {
	if len(s.MatchLabels) != len(o.MatchLabels) || len(s.MatchExpressions) != len(o.MatchExpressions) {
		return false
	}
	for k, v := range s.MatchLabels {
		if w, ok := o.MatchLabels[k]; !ok || w != v {
			return false
		}
	}
	for i, r := range s.MatchExpressions {
		q := o.MatchExpressions[i]
		if r.Key != q.Key || r.Operator != q.Operator || !slices.Equal(r.Values, q.Values) {
			return false
		}
	}
	return true
}

// SelectorOf returns the selector of the configurations of type t: the first one's (the others
// must say the same, or the pipeline refuses them); the zero Selector when none is of t.
func SelectorOf(configurations []Configuration, t event.Type) Selector {
	for _, c := range configurations {
		if c.EventType == t {
			return c.Selector
		}
	}
	return Selector{}
}
