package ports

import (
	"context"
	"errors"
	"time"

	"github.com/khook-dev/khook/domain/hook"
)

// AgentRequest is one message to an agent: a prompt about one firing.
type AgentRequest struct {
	Hook  hook.Ref
	Agent hook.AgentRef
	// Prompt is the rendered prompt.
	Prompt string
	// MessageID is the same for every attempt to tell this agent of this firing, so the agent
	// can recognise a repeat (A2A's messageId).
	MessageID string
	// ContextID continues the conversation of an earlier attempt (a Kagent session); empty on
	// the first attempt, when the adapter may open one.
	ContextID string
	// EventType, ResourceName and EventTime describe the trouble (for session names and logs).
	EventType    string
	ResourceName string
	EventTime    time.Time
	// Metadata is passed to the agent as message metadata: namespace, reason, source, labels, …
	// already sanitised.
	Metadata map[string]string
}

// TaskState is what an agent says of the work a message started (A2A's task states).
type TaskState string

const (
	TaskSubmitted     TaskState = "submitted"
	TaskWorking       TaskState = "working"
	TaskCompleted     TaskState = "completed"
	TaskFailed        TaskState = "failed"
	TaskRejected      TaskState = "rejected"
	TaskCanceled      TaskState = "canceled"
	TaskInputRequired TaskState = "input-required"
	TaskAuthRequired  TaskState = "auth-required"
)

// Task is the agent's answer to a message, or the latest news of the work it started.
type Task struct {
	// ID of the task; empty when the agent answered with a message: the work is done.
	ID string
	// ContextID is the conversation the task belongs to.
	ContextID string
	State     TaskState
	// Summary is a short text of the task's latest status message or artifact (at most
	// MaxSummaryLength characters).
	Summary string
}

// MaxSummaryLength bounds Task.Summary, in characters.
const MaxSummaryLength = 512

// Errors an AgentCaller wraps so that the domain can decide about retries with errors.Is.
var (
	// ErrPermanent: retrying cannot help (no such agent, unauthorised, a malformed request).
	ErrPermanent = errors.New("permanent failure")
	// ErrUncertain: the request may have reached the agent before it failed (a timeout while
	// waiting for the answer, a connection lost mid-answer).
	ErrUncertain = errors.New("outcome uncertain")
	// ErrTaskNotFound: the agent does not know the task (any more).
	ErrTaskNotFound = errors.New("task not found")
	// ErrAgentNotFound: there is no such agent, or not yet (its card or endpoint answered 404).
	// An AgentCaller wraps it together with ErrPermanent.
	ErrAgentNotFound = errors.New("agent not found")
)

// AgentCaller hands prompts to agents and follows the work they start. Neither method waits
// for an investigation: both return as soon as the agent has answered.
type AgentCaller interface {
	// Send delivers req and returns once the agent has accepted it: the task it started, in
	// whatever state, or (ID empty) the final answer.
	Send(ctx context.Context, req AgentRequest) (Task, error)
	// GetTask reads the current state of a task Send returned.
	GetTask(ctx context.Context, agent hook.AgentRef, taskID string) (Task, error)
}
