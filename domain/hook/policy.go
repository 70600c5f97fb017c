package hook

import (
	"errors"
	"fmt"
	"strings"
)

// Entries of an allow-list that are not namespace names.
const (
	// AllowAny allows the agents of every namespace.
	AllowAny = "*"
	// AllowSelf allows the agents of the Hook's own namespace.
	AllowSelf = "@self"
)

// AllowList is a list of the namespaces whose agents Hooks may call, and the rule that set it.
// Its entries are namespace names, AllowSelf and AllowAny; an entry that is none of these (a
// typo) matches no namespace. An empty list allows no agent.
type AllowList struct {
	// Rule names who set the list, for refusals: e.g. "--allowed-agent-namespaces", or
	// "namespace team-a's annotation kagent.dev/allowed-agent-namespaces".
	Rule    string
	Entries []string
}

// ParseAllowList reads a comma-separated list; blanks around entries and empty entries are
// dropped. It always returns the list; the error names the entries that can match nothing
// (neither a namespace name, nor AllowSelf, nor AllowAny), after the rule when there is one.
func ParseAllowList(rule, value string) (AllowList, error) {
	l := AllowList{Rule: rule}
	var bad []string
	for _, e := range strings.Split(value, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		l.Entries = append(l.Entries, e)
		if e != AllowAny && e != AllowSelf && dns1123Label(e) != "" {
			bad = append(bad, fmt.Sprintf("%q", cutValue(e)))
		}
	}
	var err error
	switch len(bad) {
	case 0:
		return l, nil
	case 1:
		err = fmt.Errorf("%s is neither a namespace name nor %s or %s, and allows nothing", bad[0], AllowSelf, AllowAny)
	default:
		err = fmt.Errorf("%s are neither namespace names nor %s or %s, and allow nothing", strings.Join(bad, ", "), AllowSelf, AllowAny)
	}
	if rule != "" {
		err = fmt.Errorf("%s: %w", rule, err)
	}
	return l, err
}

// Allows says whether a Hook in namespace hookNamespace may call an agent in agentNamespace.
func (l AllowList) Allows(hookNamespace, agentNamespace string) bool {
	for _, e := range l.Entries {
		if e == AllowAny || e == agentNamespace || (e == AllowSelf && agentNamespace == hookNamespace) {
			return true
		}
	}
	return false
}

// maxShownEntries bounds the entries a refusal lists.
const maxShownEntries = 10

// String is what the list allows, as a refusal says it: "kagent, @self", or "no namespace".
func (l AllowList) String() string {
	if len(l.Entries) == 0 {
		return "no namespace"
	}
	shown := make([]string, 0, min(len(l.Entries), maxShownEntries)+1)
	for i, e := range l.Entries {
		if i == maxShownEntries {
			shown = append(shown, fmt.Sprintf("and %d more", len(l.Entries)-i))
			break
		}
		shown = append(shown, cutValue(e))
	}
	return strings.Join(shown, ", ")
}

// AgentPolicy says which agents the Hooks of a namespace may call. An agent must be allowed by
// the controller's list (Allowed) and by the list the Hook's namespace sets
// (Hook.AllowedAgentNamespaces), each when present: the namespace's list can only narrow what
// the controller allows. The zero value allows every agent a namespace does not refuse.
type AgentPolicy struct {
	// Allowed is the controller's list (--allowed-agent-namespaces); nil allows every namespace.
	Allowed *AllowList
}

// ErrAgentNotAllowed is what every NotAllowedError is (errors.Is).
var ErrAgentNotAllowed = errors.New("agent not allowed")

// NotAllowedError says that a Hook may not call an agent, and which rule refuses it.
type NotAllowedError struct {
	Agent     AgentRef
	Namespace string // the Hook's
	Rule      AllowList
}

func (e *NotAllowedError) Error() string {
	return fmt.Sprintf("agent %s is not allowed for namespace %s: %s allows %s", e.Agent, e.Namespace, e.Rule.Rule, e.Rule)
}

// Is makes errors.Is(err, ErrAgentNotAllowed) hold.
func (e *NotAllowedError) Is(target error) bool { return target == ErrAgentNotAllowed }

// Check says whether h may call agent: nil, or a *NotAllowedError naming the first rule that
// refuses it (the controller's, then the namespace's).
func (p AgentPolicy) Check(h Hook, agent AgentRef) error {
	for _, l := range []*AllowList{p.Allowed, h.AllowedAgentNamespaces} {
		if l != nil && !l.Allows(h.Ref.Namespace, agent.Namespace) {
			return &NotAllowedError{Agent: agent, Namespace: h.Ref.Namespace, Rule: *l}
		}
	}
	return nil
}
