package delivery

import (
	"errors"
	"fmt"
	"time"
)

// Guarantee is what happens to a send whose outcome a dying process could not record.
type Guarantee string

const (
	// AtLeastOnce sends again after a restart (same message id): nothing is lost, a repeat is
	// possible.
	AtLeastOnce Guarantee = "at-least-once"
	// AtMostOnce persists the intent before each send and never sends again after a restart: no
	// repeat, a loss is possible.
	AtMostOnce Guarantee = "at-most-once"
)

// Defaults.
const (
	DefaultMaxSendsPerAgent          = 2
	DefaultMaxInvestigationsPerAgent = 4
	DefaultSendTimeout               = 30 * time.Second
	DefaultRetryInitial              = 30 * time.Second
	DefaultRetryMax                  = 10 * time.Minute
	DefaultMaxAttempts               = 10
	DefaultPollInitial               = 2 * time.Second
	DefaultPollMax                   = 30 * time.Second
	DefaultInvestigationTimeout      = time.Hour
)

// Options tune the engine; zero values mean the defaults.
type Options struct {
	Guarantee Guarantee
	// MaxSendsPerAgent bounds the sends under way to one agent.
	MaxSendsPerAgent int
	// MaxInvestigationsPerAgent bounds an agent's accepted tasks in progress plus sends under way.
	MaxInvestigationsPerAgent int
	// SendTimeout bounds one send or one poll.
	SendTimeout time.Duration
	// RetryInitial is the wait after the first failed attempt; it doubles up to RetryMax.
	RetryInitial, RetryMax time.Duration
	// MaxAttempts: after this many failed attempts a record is undeliverable.
	MaxAttempts int
	// PollInitial is the wait before the first poll of a task; it doubles up to PollMax.
	PollInitial, PollMax time.Duration
	// InvestigationTimeout: a task not ended this long after it was accepted is timed out.
	InvestigationTimeout time.Duration
	// RetryFailedInvestigations is how many times an agent whose task failed, was rejected or was
	// lost is asked again (each a new LLM run); 0, the default, records the outcome and asks no
	// more.
	RetryFailedInvestigations int
}

// MaxRetryFailedInvestigations bounds Options.RetryFailedInvestigations.
const MaxRetryFailedInvestigations = 10

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.Guarantee == "" {
		o.Guarantee = AtLeastOnce
	}
	if o.MaxSendsPerAgent <= 0 {
		o.MaxSendsPerAgent = DefaultMaxSendsPerAgent
	}
	if o.MaxInvestigationsPerAgent <= 0 {
		o.MaxInvestigationsPerAgent = DefaultMaxInvestigationsPerAgent
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = DefaultSendTimeout
	}
	if o.RetryInitial <= 0 {
		o.RetryInitial = DefaultRetryInitial
	}
	if o.RetryMax <= 0 {
		o.RetryMax = DefaultRetryMax
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.PollInitial <= 0 {
		o.PollInitial = DefaultPollInitial
	}
	if o.PollMax <= 0 {
		o.PollMax = DefaultPollMax
	}
	if o.InvestigationTimeout <= 0 {
		o.InvestigationTimeout = DefaultInvestigationTimeout
	}
	return o
}

// Validate reports what is wrong with the options, naming the field.
func (o Options) Validate() error {
	var errs []error
	if o.Guarantee != "" && o.Guarantee != AtLeastOnce && o.Guarantee != AtMostOnce {
		errs = append(errs, fmt.Errorf("Guarantee %q is neither %s nor %s", o.Guarantee, AtLeastOnce, AtMostOnce))
	}
	if o.MaxSendsPerAgent > 0 && o.MaxInvestigationsPerAgent > 0 && o.MaxSendsPerAgent > o.MaxInvestigationsPerAgent {
		errs = append(errs, fmt.Errorf("MaxSendsPerAgent (%d) is more than MaxInvestigationsPerAgent (%d)", o.MaxSendsPerAgent, o.MaxInvestigationsPerAgent))
	}
	if o.RetryInitial > 0 && o.RetryMax > 0 && o.RetryInitial > o.RetryMax {
		errs = append(errs, fmt.Errorf("RetryInitial (%s) is longer than RetryMax (%s)", o.RetryInitial, o.RetryMax))
	}
	if o.RetryFailedInvestigations < 0 || o.RetryFailedInvestigations > MaxRetryFailedInvestigations {
		errs = append(errs, fmt.Errorf("RetryFailedInvestigations (%d) is not between 0 and %d", o.RetryFailedInvestigations, MaxRetryFailedInvestigations))
	}
	if o.PollInitial > 0 && o.PollMax > 0 && o.PollInitial > o.PollMax {
		errs = append(errs, fmt.Errorf("PollInitial (%s) is longer than PollMax (%s)", o.PollInitial, o.PollMax))
	}
	return errors.Join(errs...)
}
