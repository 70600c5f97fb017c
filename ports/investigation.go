package ports

import (
	"context"
	"errors"
	"time"

	"github.com/khook-dev/khook/domain/hook"
)

// Investigation is one investigation as khook keeps it: what it is about, fixed when it starts,
// and what became of it. It is its own object (an Investigation resource in the Hook's
// namespace, owned by the Hook), so that no other investigation's size or failed write stops it.
type Investigation struct {
	// Name of the investigation, in its Hook's namespace; derived from the Hook's UID, the
	// incident and its start, so that a retry, a restart or a new leader never makes a second.
	Name    string
	Hook    hook.Ref
	HookUID string

	// What it is about; never changed once written.
	EventType string
	Subject   Subject
	GroupBy   string
	StartedAt time.Time
	Event     *EventSnapshot

	// What became of it.
	Phase   string
	Reason  string // why it is suppressed, when it is
	Message string
	// Members names the resources of the subject that fired (at most 50); MemberCount counts
	// them all.
	Members     []string
	MemberCount int
	Deliveries  []InvestigationDelivery
	LastSeen    time.Time
	// ResolvedAt is when the trouble ended, ResolvedReason how; zero while it fires.
	ResolvedAt     time.Time
	ResolvedReason string

	// Version is the version of the object this was read as or last written as: a write with it
	// fails with ErrConflict when someone else wrote the object meanwhile (a deposed leader's late
	// write fails instead of overwriting the new leader's). Empty: not written yet.
	Version string
}

// Subject is what an investigation is about.
type Subject struct {
	Kind, Namespace, Name, Fingerprint string
}

// InvestigationDelivery is one agent's line of an investigation: the ledger line, and the
// prompt the agent was sent.
type InvestigationDelivery struct {
	Delivery
	// Prompt is the start of the prompt the agent was sent, PromptSHA256 the hash of the whole.
	Prompt, PromptSHA256 string
}

// Errors an InvestigationStore wraps.
var (
	// ErrConflict: the investigation was written by someone else since the version given (or it
	// exists already where it was to be created): read it again before writing it.
	ErrConflict = errors.New("the investigation changed meanwhile")
	// ErrHookGone: the Hook the investigation belongs to is gone (or is another Hook of the same
	// name): nothing is written.
	ErrHookGone = errors.New("the investigation's Hook is gone")
)

// InvestigationStore keeps investigations where people and a new leader find them.
type InvestigationStore interface {
	// Save writes inv: creates it when inv.Version is empty, else writes its status (what became
	// of it) over the version given. It returns the version written.
	Save(ctx context.Context, inv Investigation) (version string, err error)
	// Get reads one investigation from the API server itself (not a cache that may lag).
	Get(ctx context.Context, ref hook.Ref, name string) (Investigation, bool, error)
	// List reads every investigation of Hook ref (its UID) from the API server itself.
	List(ctx context.Context, ref hook.Ref, hookUID string) ([]Investigation, error)
	// Delete removes an investigation (retention); one already gone is no error.
	Delete(ctx context.Context, ref hook.Ref, name string) error
}
