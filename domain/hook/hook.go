package hook

import (
	"errors"
	"fmt"
	"slices"
	"strings"

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
}

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
