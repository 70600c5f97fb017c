package a2a

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-logr/logr"
	"github.com/sony/gobreaker/v2"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// RetryPolicy bounds retries of transient failures.
type RetryPolicy struct {
	InitialInterval time.Duration // first wait (default 1s)
	MaxInterval     time.Duration // longest wait (default 30s)
	MaxElapsedTime  time.Duration // give up after this long in all (default 2m)
	MaxRetries      uint64        // give up after this many retries (default 4)
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.InitialInterval <= 0 {
		p.InitialInterval = time.Second
	}
	if p.MaxInterval <= 0 {
		p.MaxInterval = 30 * time.Second
	}
	if p.MaxElapsedTime <= 0 {
		p.MaxElapsedTime = 2 * time.Minute
	}
	if p.MaxRetries == 0 {
		p.MaxRetries = 4
	}
	return p
}

type retrying struct {
	next   ports.AgentCaller
	policy RetryPolicy
	log    logr.Logger
}

// WithRetry retries next's transient failures with exponential backoff and jitter. Permanent
// errors, an open circuit breaker and a cancelled context end the retries at once; an agent that
// answered (even with a failed task) is not retried here: the pipeline decides about that.
func WithRetry(next ports.AgentCaller, policy RetryPolicy, log logr.Logger) ports.AgentCaller {
	return &retrying{next: next, policy: policy.withDefaults(), log: log}
}

func (r *retrying) Call(ctx context.Context, req ports.AgentRequest) (ports.AgentResponse, error) {
	exp := backoff.NewExponentialBackOff()
	exp.InitialInterval = r.policy.InitialInterval
	exp.MaxInterval = r.policy.MaxInterval
	exp.MaxElapsedTime = r.policy.MaxElapsedTime
	exp.RandomizationFactor = 0.5
	policy := backoff.WithContext(backoff.WithMaxRetries(exp, r.policy.MaxRetries), ctx)
	var resp ports.AgentResponse
	op := func() error {
		var err error
		resp, err = r.next.Call(ctx, req)
		if err != nil && (IsPermanent(err) || errors.Is(err, gobreaker.ErrOpenState) || ctx.Err() != nil) {
			return backoff.Permanent(err)
		}
		return err
	}
	notify := func(err error, wait time.Duration) {
		r.log.Info("agent call failed; retrying", "agent", req.Agent.String(), "hook", req.Hook.String(), "in", wait.String(), "error", err.Error())
	}
	if err := backoff.RetryNotify(op, policy, notify); err != nil {
		return ports.AgentResponse{}, err
	}
	return resp, nil
}

// BreakerSettings configure the circuit breaker of each agent.
type BreakerSettings struct {
	// ConsecutiveFailures that open the breaker (default 5).
	ConsecutiveFailures uint32
	// OpenFor is how long the breaker stays open before letting one trial call through
	// (default 30s).
	OpenFor time.Duration
}

type breaking struct {
	next     ports.AgentCaller
	settings BreakerSettings
	log      logr.Logger

	mu       sync.Mutex
	breakers map[hook.AgentRef]*gobreaker.CircuitBreaker[ports.AgentResponse]
}

// WithBreaker gives each agent its own circuit breaker around next: after ConsecutiveFailures
// transient failures in a row, calls to that agent fail at once (wrapping gobreaker.ErrOpenState)
// for OpenFor, so a down agent gets no call storm; other agents are unaffected. Permanent errors
// do not count: they say the request is wrong, not that the agent is down.
func WithBreaker(next ports.AgentCaller, settings BreakerSettings, log logr.Logger) ports.AgentCaller {
	if settings.ConsecutiveFailures == 0 {
		settings.ConsecutiveFailures = 5
	}
	if settings.OpenFor <= 0 {
		settings.OpenFor = 30 * time.Second
	}
	return &breaking{next: next, settings: settings, log: log, breakers: map[hook.AgentRef]*gobreaker.CircuitBreaker[ports.AgentResponse]{}}
}

func (b *breaking) Call(ctx context.Context, req ports.AgentRequest) (ports.AgentResponse, error) {
	resp, err := b.breaker(req.Agent).Execute(func() (ports.AgentResponse, error) { return b.next.Call(ctx, req) })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return ports.AgentResponse{}, fmt.Errorf("circuit breaker for agent %s is open: %w", req.Agent, err)
	}
	return resp, err
}

func (b *breaking) breaker(agent hook.AgentRef) *gobreaker.CircuitBreaker[ports.AgentResponse] {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cb, ok := b.breakers[agent]; ok {
		return cb
	}
	cb := gobreaker.NewCircuitBreaker[ports.AgentResponse](gobreaker.Settings{
		Name:        agent.String(),
		MaxRequests: 1,
		Timeout:     b.settings.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= b.settings.ConsecutiveFailures },
		IsSuccessful: func(err error) bool {
			return err == nil || IsPermanent(err) || errors.Is(err, context.Canceled)
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			b.log.Info("agent circuit breaker changed state", "agent", name, "from", from.String(), "to", to.String())
		},
	})
	b.breakers[agent] = cb
	return cb
}
