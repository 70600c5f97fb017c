package volume

import (
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
)

// Subject is what an incident is about: a Deployment, a Node, a Pod, an alert group.
type Subject struct {
	Kind      string
	Namespace string // empty for cluster-scoped subjects (a Node) and cluster-wide alerts
	Name      string
}

func (s Subject) String() string {
	if s.Namespace == "" {
		return s.Kind + " " + s.Name
	}
	return s.Kind + " " + s.Namespace + "/" + s.Name
}

// Candidate is an incident about to start an investigation: the volume controls are asked
// about it before any agent is told.
type Candidate struct {
	Hook      hook.Ref
	EventType event.Type
	Subject   Subject
	// Labels are those of the resource that fired (the Pod's, the Node's, an alert's labels, a
	// plugin event's metadata); Silences' selectors match them. nil means none.
	Labels map[string]string
	// Agents are the agents the investigation would tell, each once; each has a budget.
	Agents []hook.AgentRef
}
