package investigation

import (
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/incident"
)

// Phase is where an investigation stands, all its agents considered.
type Phase string

const (
	// Pending: no agent has taken it yet (waiting for a turn, a retry, or a configuration fix).
	Pending Phase = "pending"
	// Working: an agent works on it.
	Working Phase = "working"
	// Completed: the agents finished; at least one completed.
	Completed Phase = "completed"
	// Failed: the agents ended without completing it (failed, rejected, timed out, canceled), or
	// it could not be delivered.
	Failed Phase = "failed"
	// InputRequired: an agent needs a person.
	InputRequired Phase = "input-required"
	// Lost: the agent no longer knows the task.
	Lost Phase = "lost"
	// Resolved: the trouble ended before any agent was told.
	Resolved Phase = "resolved"
	// Suppressed: khook started no investigation (the incident's Suppression says why).
	Suppressed Phase = "suppressed"
)

// PhaseOf sums up an incident's records: suppressed if the incident is; working while an agent
// works; input-required while one waits for a person; pending while one is still to be told;
// then, once every agent is done: completed if one completed, lost if one lost its task,
// resolved if the trouble ended before any was told, failed otherwise.
func PhaseOf(inc incident.Incident, records []delivery.Record) Phase {
	if inc.Suppressed.Reason != "" {
		return Suppressed
	}
	var working, person, waiting, completed, lost, told bool
	for _, r := range records {
		switch r.State {
		case delivery.Submitted, delivery.Working:
			working = true
		case delivery.InputRequired, delivery.AuthRequired:
			person = true
		case delivery.Pending, delivery.Sending:
			waiting = true
		case delivery.Completed:
			completed = true
		case delivery.Lost:
			lost = true
		}
		if r.State != delivery.Abandoned && r.State != delivery.Pending && r.State != delivery.Sending {
			told = true
		}
	}
	switch {
	case working:
		return Working
	case person:
		return InputRequired
	case waiting || (len(records) == 0 && inc.Open()):
		return Pending
	case completed:
		return Completed
	case lost:
		return Lost
	case !told && !inc.Open():
		return Resolved
	default:
		return Failed
	}
}

// Finished reports whether nothing more will happen to the investigation: its trouble ended and
// no agent works on it or waits to be told. Only a finished investigation may be removed.
func Finished(inc incident.Incident, records []delivery.Record) bool {
	if inc.Open() {
		return false
	}
	for _, r := range records {
		if !r.State.Final() {
			return false
		}
	}
	return true
}
