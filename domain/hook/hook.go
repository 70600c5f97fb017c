package hook

import (
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
}

// Hook is a named set of configurations in one namespace.
type Hook struct {
	Ref Ref
	// UID tells this Hook apart from a deleted one of the same name (empty when unknown).
	UID            string
	Generation     int64
	Configurations []Configuration
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
