package pipeline

import (
	"errors"
	"fmt"
	"time"
)

// InvestigationLimits bound what a storm of distinct trouble may make khook hold. Past
// MaxOpenPerHook open investigations on one Hook, or MaxWaitingPerAgent deliveries waiting for one
// agent, a new incident starts no investigation: it is recorded as suppressed (reason backlog) and
// counted, not queued for days. Finished investigations are removed after Retention, and beyond
// the newest Kept of each Hook. Zero fields mean the defaults.
type InvestigationLimits struct {
	// MaxOpenPerHook bounds the investigations of one Hook not yet finished (default 1000).
	MaxOpenPerHook int
	// MaxWaitingPerAgent bounds the deliveries waiting for one agent (default 1000).
	MaxWaitingPerAgent int
	// Retention is how long a finished investigation is kept (default 7 days).
	Retention time.Duration
	// Kept bounds the finished investigations kept per Hook, the newest first (default 500).
	Kept int
	// SuppressedPerMinute bounds how many suppressed investigations of one Hook are written as
	// objects a minute (a burst of as many); beyond it they are only counted (default 60).
	SuppressedPerMinute int
}

// Defaults and bounds of InvestigationLimits.
const (
	DefaultMaxOpenPerHook      = 1000
	DefaultMaxWaitingPerAgent  = 1000
	DefaultRetention           = 7 * 24 * time.Hour
	DefaultKept                = 500
	DefaultSuppressedPerMinute = 60

	// MaxOpenPerHookLimit and the others keep a setting from undoing the bound it sets.
	MaxOpenPerHookLimit     = 100_000
	MaxWaitingPerAgentLimit = 100_000
	MaxKeptLimit            = 10_000
	MaxSuppressedPerMinute  = 10_000
	MinRetention            = time.Minute
)

// WithDefaults returns l with every zero field set to its default.
func (l InvestigationLimits) WithDefaults() InvestigationLimits {
	if l.MaxOpenPerHook <= 0 {
		l.MaxOpenPerHook = DefaultMaxOpenPerHook
	}
	if l.MaxWaitingPerAgent <= 0 {
		l.MaxWaitingPerAgent = DefaultMaxWaitingPerAgent
	}
	if l.Retention <= 0 {
		l.Retention = DefaultRetention
	}
	if l.Kept <= 0 {
		l.Kept = DefaultKept
	}
	if l.SuppressedPerMinute <= 0 {
		l.SuppressedPerMinute = DefaultSuppressedPerMinute
	}
	return l
}

// Validate reports each field out of its bounds, naming it. Zero fields are valid: they mean
// the defaults.
func (l InvestigationLimits) Validate() error {
	var errs []error
	check := func(name string, v, most int) {
		if v < 0 || v > most {
			errs = append(errs, fmt.Errorf("%s (%d) is not between 1 and %d", name, v, most))
		}
	}
	check("MaxOpenPerHook", l.MaxOpenPerHook, MaxOpenPerHookLimit)
	check("MaxWaitingPerAgent", l.MaxWaitingPerAgent, MaxWaitingPerAgentLimit)
	check("Kept", l.Kept, MaxKeptLimit)
	check("SuppressedPerMinute", l.SuppressedPerMinute, MaxSuppressedPerMinute)
	if l.Retention < 0 || (l.Retention > 0 && l.Retention < MinRetention) {
		errs = append(errs, fmt.Errorf("Retention (%s) is shorter than %s", l.Retention, MinRetention))
	}
	return errors.Join(errs...)
}
