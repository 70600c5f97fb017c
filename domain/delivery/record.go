package delivery

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
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
	// Failed and Rejected: the agent ran the task and it failed, or refused it. An outcome: the
	// agent was told; it is asked again only if Options.RetryFailedInvestigations allows.
	Failed   State = "failed"
	Rejected State = "rejected"
	// Lost: the agent no longer knows the task it accepted. An outcome, like Failed.
	Lost State = "lost"
	// Canceled: someone canceled the task. Not retried.
	Canceled State = "canceled"
	// InputRequired and AuthRequired: the agent needs a person. Not success, not retried.
	InputRequired State = "input-required"
	AuthRequired  State = "auth-required"
	// TimedOut: the task did not end within the investigation deadline.
	TimedOut State = "timed-out"
	// Undeliverable: the agent could not be told (its Cause says why). Tried again when the Hook
	// changes or, when it failed for lack of its agent, once when the agent is back.
	Undeliverable State = "undeliverable"
	// Unknown: at most once, the send may or may not have reached the agent (khook stopped during
	// it, or it timed out); it is not sent again.
	Unknown State = "unknown"
	// Abandoned: the firing resolved, or the Hook stopped naming the agent, before delivery.
	Abandoned State = "abandoned"
)

// Accepted reports whether the agent has accepted the latest attempt.
func (s State) Accepted() bool {
	switch s {
	case Submitted, Working, Completed, Failed, Rejected, Lost, Canceled, InputRequired, AuthRequired, TimedOut:
		return true
	}
	return false
}

// MaxKeptPrompt bounds how much of a prompt a record keeps.
const MaxKeptPrompt = 4096

// keptPrompt returns the start of prompt (cut on a UTF-8 boundary) and its SHA-256 in hex.
func keptPrompt(prompt string) (start, sum string) {
	h := sha256.Sum256([]byte(prompt))
	n := min(len(prompt), MaxKeptPrompt)
	for n < len(prompt) && n > 0 && !utf8.RuneStart(prompt[n]) {
		n--
	}
	return prompt[:n], hex.EncodeToString(h[:])
}

// Cause says why a delivery is undeliverable, abandoned or waiting, where its state alone does
// not. It is a type, not text: decisions (revive, conditions) are made on it.
type Cause string

const (
	// CauseAgentNotFound: the agent does not exist, or not yet (its card or endpoint answered
	// 404). The agent is remembered as absent for a while and asked again now and then; when it
	// answers, its undeliverable records get a new round together.
	CauseAgentNotFound Cause = "agent-not-found"
	// CauseAgentRefused: the agent refused the message for good (unauthorised, malformed).
	CauseAgentRefused Cause = "agent-refused"
	// CauseRetriesExhausted: every attempt failed for a reason a retry might have cured.
	CauseRetriesExhausted Cause = "retries-exhausted"
	// CausePrompt: the prompt cannot be rendered.
	CausePrompt Cause = "prompt"
	// CauseConfigurationRefused: the Hook's configuration for this agent is refused for now (a
	// prompt that does not compile, an agent not allowed): the record waits, untouched, until the
	// configuration is fixed.
	CauseConfigurationRefused Cause = "configuration-refused"
	// CauseAwaitingEvent: the event's details were not kept across a restart: the record waits for
	// the next sight of the event rather than render a prompt without them.
	CauseAwaitingEvent Cause = "awaiting-event"
	// CauseFiringOver: the firing ended, or a newer one replaced it, before the agent was told.
	CauseFiringOver Cause = "firing-over"
	// CauseAgentDropped: the Hook stopped naming the agent for the event before it was told.
	CauseAgentDropped Cause = "agent-dropped"
)

// ForLackOfAgent reports whether the agent's return may cure a delivery of this cause: it could
// not be reached, does not exist (yet) or refused it. A prompt that cannot be rendered changes
// only with its Hook.
func (c Cause) ForLackOfAgent() bool {
	switch c {
	case CauseAgentNotFound, CauseAgentRefused, CauseRetriesExhausted:
		return true
	}
	return false
}

// Legacy prefixes of Record.LastError that the previous release used instead of a Cause; a ledger
// it wrote is read back with CauseOf.
const (
	legacyRefusedPrefix = "refused: "
	legacyPromptPrefix  = "prompt: "
)

// CauseOf reads the cause of an undeliverable record written by the previous release, which kept
// it as a prefix of LastError; it returns the cause and LastError without the prefix.
func CauseOf(state State, lastError string) (Cause, string) {
	if state != Undeliverable {
		return "", lastError
	}
	if rest, ok := strings.CutPrefix(lastError, legacyPromptPrefix); ok {
		return CausePrompt, rest
	}
	if rest, ok := strings.CutPrefix(lastError, legacyRefusedPrefix); ok {
		return CauseAgentRefused, rest
	}
	return CauseRetriesExhausted, lastError
}

// Final reports whether nothing more will happen to a delivery in this state by itself.
func (s State) Final() bool {
	switch s {
	case Pending, Sending, Submitted, Working:
		return false
	}
	return true
}

// Firing names one incident of one Hook, from its start: what its agents are told of.
type Firing struct {
	Hook hook.Ref
	// HookUID tells apart a Hook from a deleted one of the same name (empty when unknown).
	HookUID string
	// Key is the incident: its event type and subject.
	Key incident.Key
	// FirstSeen is when the incident started; with Hook and Key it names the firing.
	FirstSeen time.Time
	// Resource is the affected resource (the subject), for the audit trail.
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
	// Cause says why the record is undeliverable, abandoned or waiting (see Cause); empty when
	// its state says it all.
	Cause    Cause
	Attempts int
	// Reruns counts the times the agent was asked again after its task failed, was rejected or
	// lost (Options.RetryFailedInvestigations).
	Reruns int
	// Prompt is the start of the prompt the latest attempt sent (at most MaxKeptPrompt bytes),
	// PromptSHA256 the hash of the whole, in hex.
	Prompt, PromptSHA256 string
	// SentAt is when the agent accepted the latest attempt.
	SentAt time.Time
	// UpdatedAt is when State last changed.
	UpdatedAt time.Time
	// NextAt is when a pending record is tried again, or a followed task polled.
	NextAt time.Time
}

// MessageID names the message telling agent of firing f: stable across attempts and restarts,
// different for the next incident of the subject and for a Hook recreated under the same name.
// It is the first half of the SHA-256 of "uid|namespace/hook|type/namespace/name[@fingerprint]|
// agent|firstSeen" (the subject's namespace, name and fingerprint; firstSeen in Unix seconds), in
// hex: for an incident of one resource, the id the previous release gave the resource's firing.
func MessageID(f Firing, agent hook.AgentRef) string {
	var buf [512]byte // enough for most names: no allocation but the id's own
	b := append(buf[:0], f.HookUID...)
	s := f.Key.Subject
	for _, part := range []string{"|", f.Hook.Namespace, "/", f.Hook.Name, "|", string(f.Key.Type), "/", s.Namespace, "/", s.Name} {
		b = append(b, part...)
	}
	if s.Fingerprint != "" {
		b = append(append(b, '@'), s.Fingerprint...)
	}
	b = append(append(append(append(append(b, '|'), agent.Namespace...), '/'), agent.Name...), '|')
	b = strconv.AppendInt(b, f.FirstSeen.Unix(), 10)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// RerunMessageID names the message of the n-th rerun (n >= 1) of a delivery whose first message
// was id: a new message, since the agent ran the first one to its end.
func RerunMessageID(id string, n int) string {
	base, _, _ := strings.Cut(id, "-r")
	return base + "-r" + strconv.Itoa(n)
}
