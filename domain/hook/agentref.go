package hook

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Limits of an agent reference: a Kagent agent is a Kubernetes object, so its name is a DNS-1123
// subdomain and its namespace a DNS-1123 label, as the API server requires of every object.
const (
	MaxAgentNameLength      = 253
	MaxAgentNamespaceLength = 63
)

// ErrInvalidAgent is what every InvalidAgentError is (errors.Is).
var ErrInvalidAgent = errors.New("invalid agent reference")

// InvalidAgentError says which part of an agent reference cannot name a Kagent agent, and why.
type InvalidAgentError struct {
	Part  string // "name" or "namespace"
	Value string
	Why   string
}

func (e *InvalidAgentError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("agent %s %s", e.Part, e.Why)
	}
	return fmt.Sprintf("agent %s %q %s", e.Part, cutValue(e.Value), e.Why)
}

// Is makes errors.Is(err, ErrInvalidAgent) hold.
func (e *InvalidAgentError) Is(target error) bool { return target == ErrInvalidAgent }

// Validate says whether a names a Kagent agent: the name a DNS-1123 subdomain of at most 253
// characters, the namespace a DNS-1123 label of at most 63. Nothing else can be an agent, and
// only such names are safe as path segments of the agent's URL (no "..", no "/", nothing to
// escape). The error is an *InvalidAgentError naming the part.
func (a AgentRef) Validate() error {
	if why := dns1123Label(a.Namespace); why != "" {
		return &InvalidAgentError{Part: "namespace", Value: a.Namespace, Why: why}
	}
	if why := dns1123Subdomain(a.Name); why != "" {
		return &InvalidAgentError{Part: "name", Value: a.Name, Why: why}
	}
	return nil
}

// dns1123Label says why s is not a DNS-1123 label (lower-case letters, digits and '-', starting
// and ending with a letter or digit, at most 63 characters), or "" when it is one.
func dns1123Label(s string) string {
	switch {
	case s == "":
		return "is required"
	case len(s) > MaxAgentNamespaceLength:
		return fmt.Sprintf("is longer than %d characters", MaxAgentNamespaceLength)
	case !isLabel(s):
		return "is not a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit)"
	}
	return ""
}

// dns1123Subdomain says why s is not a DNS-1123 subdomain (labels joined by '.', at most 253
// characters), or "" when it is one.
func dns1123Subdomain(s string) string {
	switch {
	case s == "":
		return "is required"
	case len(s) > MaxAgentNameLength:
		return fmt.Sprintf("is longer than %d characters", MaxAgentNameLength)
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if !isLabel(s[start:i]) {
				return "is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', each part between dots starting and ending with a letter or digit)"
			}
			start = i + 1
		}
	}
	return ""
}

// isLabel: [a-z0-9]([-a-z0-9]*[a-z0-9])? (no length limit: a subdomain's parts have none).
func isLabel(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// maxQuotedValue bounds the part of a tenant's value an error quotes.
const maxQuotedValue = 64

func cutValue(s string) string {
	if len(s) <= maxQuotedValue {
		return s
	}
	cut := maxQuotedValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
