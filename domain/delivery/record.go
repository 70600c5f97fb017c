package delivery

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// State is where a delivery is in its life.
type State string

const (
	// Pending: due, waiting for a slot of its agent or for the time of its next attempt.
	Pending State = "pending"
	// Sending: a send is under way (or, at most once, about to be: its intent is persisted).
	Sending State = "sending"
	// Submitted and Working: the agent accepted the firing and is at work; it is followed.
	Submitted State = "submitted"
	Working   State = "working"
	// Completed: the agent finished (or answered at once). Success.
	Completed State = "completed"
	// Failed and Rejected: the agent's task failed or was refused; retried until MaxAttempts, then
	// only when the Hook changes.
	Failed   State = "failed"
	Rejected State = "rejected"
	// Canceled: someone canceled the task. Not retried.
	Canceled State = "canceled"
	// InputRequired and AuthRequired: the agent needs a person. Not success, not retried.
	InputRequired State = "input-required"
	AuthRequired  State = "auth-required"
	// TimedOut: the task did not end within the investigation deadline.
	TimedOut State = "timed-out"
	// Undeliverable: a permanent failure, or retries used up. Tried again when the Hook changes or,
	// unless its prompt cannot be rendered, once when its agent recovers.
	Undeliverable State = "undeliverable"
	// Unknown: at most once, the process stopped during a send; it is not sent again.
	Unknown State = "unknown"
	// Abandoned: the firing resolved, or the Hook stopped naming the agent, before delivery.
	Abandoned State = "abandoned"
)

// Accepted reports whether the agent has accepted the latest attempt.
func (s State) Accepted() bool {
	switch s {
	case Submitted, Working, Completed, Canceled, InputRequired, AuthRequired, TimedOut:
		return true
	}
	return false
}

// Final reports whether nothing more will happen to a delivery in this state by itself.
func (s State) Final() bool {
	switch s {
	case Pending, Sending, Submitted, Working:
		return false
	}
	return true
}

// Firing names one firing of one event key for one hook.
type Firing struct {
	Hook hook.Ref
	// HookUID tells apart a Hook from a deleted one of the same name (empty when unknown).
	HookUID string
	Key     event.Key
	// FirstSeen is when the firing started; with Hook and Key it names the firing.
	FirstSeen time.Time
	// Resource is the affected resource, for the audit trail.
	Resource ports.ResourceRef
}

// Record is one agent's line in the ledger of a firing.
type Record struct {
	Firing
	Agent hook.AgentRef
	// MessageID is the same for every attempt of this record (see MessageID).
	MessageID string
	// ContextID is the agent's conversation (Kagent session) the attempts continue.
	ContextID string
	// TaskID is the task the latest accepted attempt started.
	TaskID  string
	State   State
	Summary string
	// LastError says why the latest attempt failed, for people.
	LastError string
	Attempts  int
	// SentAt is when the agent accepted the latest attempt.
	SentAt time.Time
	// UpdatedAt is when State last changed.
	UpdatedAt time.Time
	// NextAt is when a pending record is tried again, or a followed task polled.
	NextAt time.Time
}

// MessageID names the message telling agent of firing f: stable across attempts and restarts,
// different for the next firing of the key and for a Hook recreated under the same name. It is
// the first half of the SHA-256 of "uid|hook|key|agent|firstSeen" (names as their String methods
// spell them, firstSeen in Unix seconds), in hex.
func MessageID(f Firing, agent hook.AgentRef) string {
	var buf [512]byte // enough for most names: no allocation but the id's own
	b := append(buf[:0], f.HookUID...)
	for _, part := range []string{"|", f.Hook.Namespace, "/", f.Hook.Name, "|", string(f.Key.Type), "/", f.Key.Namespace, "/", f.Key.ResourceName} {
		b = append(b, part...)
	}
	if f.Key.Fingerprint != "" {
		b = append(append(b, '@'), f.Key.Fingerprint...)
	}
	b = append(append(append(append(append(b, '|'), agent.Namespace...), '/'), agent.Name...), '|')
	b = strconv.AppendInt(b, f.FirstSeen.Unix(), 10)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}
