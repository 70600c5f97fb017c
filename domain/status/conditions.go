package status

import (
	"fmt"
	"sort"
	"strings"

	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/text"
	"github.com/khook-dev/khook/ports"
)

// Condition types and reasons.
const (
	ConditionAccepted   = "Accepted"
	ConditionDelivering = "Delivering"

	ReasonAccepted         = "Accepted"
	ReasonTemplateRefused  = "TemplateRefused"
	ReasonUnknownEventType = "UnknownEventType"
	ReasonInvalidAgent     = "InvalidAgent"
	ReasonAgentNotAllowed  = "AgentNotAllowed"
	ReasonDuplicateAgent   = "DuplicateConfiguration"
	ReasonInvalidGrouping  = "InvalidGrouping"
	ReasonInvalidSelector  = "InvalidSelector"

	ReasonDelivering       = "Delivering"
	ReasonAgentNotFound    = "AgentNotFound"
	ReasonAgentRefused     = "AgentRefused"
	ReasonPromptFailed     = "PromptRenderFailed"
	ReasonRetriesExhausted = "RetriesExhausted"
)

// Problem is one reason a Hook's configuration is not used.
type Problem struct {
	Reason  string // one of the Reason constants
	Field   string // e.g. spec.eventConfigurations[1].prompt
	Message string
}

func (p Problem) String() string { return fmt.Sprintf("%s: %s", p.Field, p.Message) }

// Accepted returns the Accepted condition for a hook with the given problems: true when there
// are none; otherwise false, with the first problem's reason and every problem in the message.
func Accepted(problems []Problem) ports.Condition {
	if len(problems) == 0 {
		return ports.Condition{Type: ConditionAccepted, Status: true, Reason: ReasonAccepted, Message: "all event configurations are in use"}
	}
	msgs := make([]string, len(problems))
	for i, p := range problems {
		msgs[i] = p.String()
	}
	return ports.Condition{Type: ConditionAccepted, Status: false, Reason: problems[0].Reason, Message: text.Cut(strings.Join(msgs, "; "), MaxConditionMessage)}
}

// Delivering returns the Delivering condition of a Hook's ledger: false while some agent cannot
// be told of its firings, naming each agent and why (no such agent, a refusal, a prompt that
// cannot be rendered, retries used up); true otherwise. An investigation the agent ran and that
// failed is an outcome, not a delivery problem, and a firing that is over is not undeliverable
// (its records are abandoned). khook tries undeliverable records again when the Hook changes,
// and those that failed for lack of the agent once it is back (docs/delivery.md), so the
// condition clears by itself then.
func Delivering(records []delivery.Record) ports.Condition {
	type problem struct {
		reason, why string
		firings     int
	}
	byAgent := map[string]*problem{}
	for _, r := range records {
		if r.State != delivery.Undeliverable {
			continue
		}
		reason := ReasonRetriesExhausted
		switch r.Cause {
		case delivery.CausePrompt:
			reason = ReasonPromptFailed
		case delivery.CauseAgentRefused:
			reason = ReasonAgentRefused
		case delivery.CauseAgentNotFound:
			reason = ReasonAgentNotFound
		}
		agent := r.Agent.String()
		p := byAgent[agent]
		if p == nil {
			p = &problem{reason: reason, why: r.LastError}
			byAgent[agent] = p
		}
		p.firings++
	}
	if len(byAgent) == 0 {
		return ports.Condition{Type: ConditionDelivering, Status: true, Reason: ReasonDelivering, Message: "every firing reaches its agents"}
	}
	agents := make([]string, 0, len(byAgent))
	for a := range byAgent {
		agents = append(agents, a)
	}
	sort.Strings(agents)
	msgs := make([]string, 0, len(agents))
	for _, a := range agents {
		p := byAgent[a]
		msgs = append(msgs, fmt.Sprintf("agent %s (%d firing%s): %s", a, p.firings, plural(p.firings), p.why))
	}
	return ports.Condition{Type: ConditionDelivering, Status: false, Reason: byAgent[agents[0]].reason,
		Message: text.Cut(strings.Join(msgs, "; "), maxConditionMessage)}
}

// maxConditionMessage keeps the Delivering message readable and well within the API's limit.
const maxConditionMessage = 4096

// MaxConditionMessage is the API's limit for a condition's message (metav1.Condition): a longer
// one is refused, and the condition would never be written. The Accepted message lists every
// refused configuration and is cut to it.
const MaxConditionMessage = 32768

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
