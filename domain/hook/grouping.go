package hook

import (
	"fmt"
	"slices"
	"time"

	"github.com/khook-dev/khook/domain/event"
)

// GroupBy says which firings of a Hook make one incident: what their subject is.
type GroupBy string

const (
	// ByWorkload: a Pod's controlling owner, followed up the chain (a Deployment, a StatefulSet,
	// a CronJob, …); a resource without one is its own subject.
	ByWorkload GroupBy = "workload"
	// ByNode: the Node a Pod runs on; a resource on no Node is its own subject.
	ByNode GroupBy = "node"
	// ByResource: each resource is its own subject (one investigation per resource).
	ByResource GroupBy = "resource"
	// ByLabels: the values of Grouping.Labels name the subject.
	ByLabels GroupBy = "labels"
)

// Grouping says how a configuration's firings group into incidents, and how long the first
// firing of an incident waits for the others before its agents are told.
type Grouping struct {
	By GroupBy
	// Labels name the subject when By is ByLabels.
	Labels []string
	// Wait is how long an incident gathers members before its investigation is sent.
	Wait time.Duration
}

// Bounds and defaults of a Grouping.
const (
	DefaultGroupWait = 10 * time.Second
	MaxGroupWait     = 10 * time.Minute
	MaxGroupLabels   = 10
)

// podTypes group by workload unless told otherwise: one bad rollout is one incident.
var podTypes = []event.Type{event.PodRestart, event.PodPending, event.OOMKill, event.ProbeFailed}

// DefaultGroupBy is how firings of type t group when the configuration does not say: by
// workload for the Pod event types, by resource for the others (an alert is grouped by
// Alertmanager already, a Node is its own subject).
func DefaultGroupBy(t event.Type) GroupBy {
	if slices.Contains(podTypes, t) {
		return ByWorkload
	}
	return ByResource
}

// Validate reports what is wrong with g, naming the field below the configuration.
func (g Grouping) Validate() error {
	switch g.By {
	case ByWorkload, ByNode, ByResource:
		if len(g.Labels) > 0 {
			return &InvalidGroupingError{Field: "groupLabels", Reason: fmt.Sprintf("is only used with groupBy: labels, not %s", g.By)}
		}
	case ByLabels:
		if len(g.Labels) == 0 {
			return &InvalidGroupingError{Field: "groupLabels", Reason: "is required with groupBy: labels"}
		}
		if len(g.Labels) > MaxGroupLabels {
			return &InvalidGroupingError{Field: "groupLabels", Reason: fmt.Sprintf("has %d labels, more than %d", len(g.Labels), MaxGroupLabels)}
		}
	default:
		return &InvalidGroupingError{Field: "groupBy", Reason: fmt.Sprintf("%q is not workload, node, resource or labels", g.By)}
	}
	if g.Wait < 0 || g.Wait > MaxGroupWait {
		return &InvalidGroupingError{Field: "groupWait", Reason: fmt.Sprintf("%s is not between 0 and %s", g.Wait, MaxGroupWait)}
	}
	return nil
}

// Same reports whether g and o group alike (their waits aside).
func (g Grouping) Same(o Grouping) bool { return g.By == o.By && slices.Equal(g.Labels, o.Labels) }

// InvalidGroupingError says which grouping field of a configuration is wrong, and why.
type InvalidGroupingError struct {
	Field  string // groupBy, groupLabels or groupWait
	Reason string
}

func (e *InvalidGroupingError) Error() string { return e.Field + " " + e.Reason }
