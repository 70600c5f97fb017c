package hook

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/khook-dev/khook/domain/event"
)

// Ref names a Hook.
type Ref struct {
	Namespace string
	Name      string
}

func (r Ref) String() string { return r.Namespace + "/" + r.Name }

// AgentRef names a Kagent agent.
type AgentRef struct {
	Namespace string
	Name      string
}

func (a AgentRef) String() string { return a.Namespace + "/" + a.Name }

// ParseAgentID reads the agentId spelling, "name" or "namespace/name"; a bare name lives in
// defaultNamespace (the Hook's).
func ParseAgentID(id, defaultNamespace string) (AgentRef, error) {
	parts := strings.Split(id, "/")
	switch {
	case len(parts) == 1 && parts[0] != "":
		return AgentRef{Namespace: defaultNamespace, Name: parts[0]}, nil
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return AgentRef{Namespace: parts[0], Name: parts[1]}, nil
	default:
		return AgentRef{}, fmt.Errorf("agent id %q is not \"name\" or \"namespace/name\"", id)
	}
}

// Configuration says: for events of EventType, call Agent with Prompt.
type Configuration struct {
	EventType event.Type
	Agent     AgentRef
	Prompt    string // a Go template; see package templating
	// AgentField is the field of the Hook's spec that named the agent, AgentFieldRef (when
	// empty) or AgentFieldID; messages about the agent name it.
	AgentField string
	// Selector picks, by their labels, the resources whose trouble this configuration is about;
	// a firing it does not match does not exist for the configuration. The zero Selector (no
	// selector in the spec) matches every resource.
	Selector Selector
	// SelectorError, when set, says why the spec's selector could not be read or would be
	// refused by Kubernetes: usually an *InvalidSelectorError naming the field below the
	// selector ("matchExpressions[0].operator"). A configuration with a SelectorError must not
	// be used: its Selector does not say what the author meant.
	SelectorError error
	// Grouping says how the configuration's firings group into incidents; an empty Grouping.By
	// means DefaultGroupBy(EventType) (see GroupingOrDefault).
	Grouping Grouping
}

// GroupingOrDefault returns c's grouping, its By defaulted for its event type.
func (c Configuration) GroupingOrDefault() Grouping {
	g := c.Grouping
	if g.By == "" {
		g.By = DefaultGroupBy(c.EventType)
	}
	return g
}

// The fields of a Hook's event configuration that name an agent.
const (
	AgentFieldRef = "agentRef"
	AgentFieldID  = "agentId"
)

// AgentPath is the path, below the configuration, of the field err is about: agentRef.name or
// agentRef.namespace for an *InvalidAgentError of an agentRef, else the field that named the
// agent (agentRef or agentId).
func (c Configuration) AgentPath(err error) string {
	if c.AgentField == AgentFieldID {
		return AgentFieldID
	}
	var invalid *InvalidAgentError
	if errors.As(err, &invalid) {
		return AgentFieldRef + "." + invalid.Part
	}
	return AgentFieldRef
}

// Hook is a named set of configurations in one namespace.
type Hook struct {
	Ref Ref
	// UID tells this Hook apart from a deleted one of the same name (empty when unknown).
	UID            string
	Generation     int64
	Configurations []Configuration
	// AllowedAgentNamespaces is the list of agent namespaces the Hook's namespace allows its
	// Hooks to call (set by a platform admin, see AgentPolicy); nil when it sets none.
	AllowedAgentNamespaces *AllowList
	// Limits bound how many investigations the Hook starts.
	Limits Limits
}

// Limits bound the investigations of one Hook (spec.limits). The zero Limits bound nothing.
type Limits struct {
	// MaxInvestigationsPerHour is the Hook's budget, a token bucket that holds this many
	// investigations and refills at this rate per hour; 0 means no budget.
	MaxInvestigationsPerHour int
	// Cooldown is how long after an investigation of a subject ends a new incident of the same
	// subject starts none; 0 means none.
	Cooldown time.Duration
}

// The largest values of Limits the Hook resource accepts.
const (
	MaxInvestigationsPerHourLimit = 10000
	MaxCooldown                   = 7 * 24 * time.Hour
)

// ConfigurationsFor returns the configurations of h for event type t, in spec order.
func (h Hook) ConfigurationsFor(t event.Type) []Configuration {
	var out []Configuration
	for _, c := range h.Configurations {
		if c.EventType == t {
			out = append(out, c)
		}
	}
	return out
}

// GroupingFor returns how h groups firings of type t (see GroupingOf).
func (h Hook) GroupingFor(t event.Type) Grouping { return GroupingOf(h.Configurations, t) }

// GroupingOf returns how configurations group firings of type t: as the first configuration of
// t says (the others must agree, or the pipeline refuses them), waiting the longest wait any of
// them asks for; by default for t when none is of t.
func GroupingOf(configurations []Configuration, t event.Type) Grouping {
	g, found := Grouping{By: DefaultGroupBy(t)}, false
	for _, c := range configurations {
		if c.EventType != t {
			continue
		}
		if !found {
			g, found = c.GroupingOrDefault(), true
		}
		g.Wait = max(g.Wait, c.Grouping.Wait)
	}
	return g
}

// AgentsFor returns the distinct agents h tells of events of type t, in spec order.
func (h Hook) AgentsFor(t event.Type) []AgentRef {
	var out []AgentRef
	for _, c := range h.Configurations {
		if c.EventType == t && !slices.Contains(out, c.Agent) {
			out = append(out, c.Agent)
		}
	}
	return out
}

// EventTypes returns the distinct event types h reacts to, in spec order.
func (h Hook) EventTypes() []event.Type {
	seen := map[event.Type]bool{}
	var out []event.Type
	for _, c := range h.Configurations {
		if !seen[c.EventType] {
			seen[c.EventType] = true
			out = append(out, c.EventType)
		}
	}
	return out
}
