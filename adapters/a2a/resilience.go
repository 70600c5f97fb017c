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

// RetryPolicy bounds the quick retries of one send or poll. They smooth over a blip (a
// connection refused during an agent's restart); the delivery engine's own backoff, in minutes,
// takes over after them.
type RetryPolicy struct {
	InitialInterval time.Duration // first wait (default 500ms)
	MaxInterval     time.Duration // longest wait (default 5s)
	MaxElapsedTime  time.Duration // give up after this long in all (default 15s)
	MaxRetries      uint64        // give up after this many retries (default 2)
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.InitialInterval <= 0 {
		p.InitialInterval = 500 * time.Millisecond
	}
	if p.MaxInterval <= 0 {
		p.MaxInterval = 5 * time.Second
	}
	if p.MaxElapsedTime <= 0 {
		p.MaxElapsedTime = 15 * time.Second
	}
	if p.MaxRetries == 0 {
		p.MaxRetries = 2
	}
	return p
}

type retrying struct {
	next   ports.AgentCaller
	policy RetryPolicy
	log    logr.Logger
}

// WithRetry retries next's failures that are safe to retry, with exponential backoff and jitter:
// a send only when it surely did not reach the agent (so retrying cannot start a second
// investigation), a poll whenever it failed but for a permanent error or an unknown task.
// An open circuit breaker and a cancelled context end the retries at once.
func WithRetry(next ports.AgentCaller, policy RetryPolicy, log logr.Logger) ports.AgentCaller {
	return &retrying{next: next, policy: policy.withDefaults(), log: log}
}

// Send retries a send that surely did not arrive; each retry continues the session (context id)
// the failed attempt returned, so that a blip opens no second Kagent session.
func (r *retrying) Send(ctx context.Context, req ports.AgentRequest) (ports.Task, error) {
	return r.retry(ctx, "send", req.Agent, func() (ports.Task, error) {
		t, err := r.next.Send(ctx, req)
		if t.ContextID == "" {
			t.ContextID = req.ContextID // an attempt that failed early still names the session
		} else {
			req.ContextID = t.ContextID
		}
		return t, err
	}, func(err error) bool { return !errors.Is(err, ports.ErrUncertain) })
}

func (r *retrying) GetTask(ctx context.Context, agent hook.AgentRef, taskID string) (ports.Task, error) {
	return r.retry(ctx, "poll", agent, func() (ports.Task, error) { return r.next.GetTask(ctx, agent, taskID) },
		func(err error) bool { return !errors.Is(err, ports.ErrTaskNotFound) })
}

func (r *retrying) retry(ctx context.Context, what string, agent hook.AgentRef, op func() (ports.Task, error), safe func(error) bool) (ports.Task, error) {
	exp := backoff.NewExponentialBackOff()
	exp.InitialInterval = r.policy.InitialInterval
	exp.MaxInterval = r.policy.MaxInterval
	exp.MaxElapsedTime = r.policy.MaxElapsedTime
	exp.RandomizationFactor = 0.5
	policy := backoff.WithContext(backoff.WithMaxRetries(exp, r.policy.MaxRetries), ctx)
	var task ports.Task
	attempt := func() error {
		var err error
		task, err = op()
		if err != nil && (errors.Is(err, ports.ErrPermanent) || errors.Is(err, gobreaker.ErrOpenState) || ctx.Err() != nil || !safe(err)) {
			return backoff.Permanent(err)
		}
		return err
	}
	notify := func(err error, wait time.Duration) {
		r.log.V(1).Info("agent request failed; retrying", "what", what, "agent", agent.String(), "in", wait.String(), "error", err.Error())
	}
	err := backoff.RetryNotify(attempt, policy, notify)
	return task, err
}

// BreakerSettings configure the circuit breaker of each agent.
type BreakerSettings struct {
	// ConsecutiveFailures that open the breaker (default 5).
	ConsecutiveFailures uint32
	// OpenFor is how long the breaker stays open before letting one trial send through
	// (default 30s).
	OpenFor time.Duration
	// OnStateChange, when set, is told of every change ("closed", "half-open", "open"), and of
	// the initial "closed" when an agent is first used, so that its state is known (a gauge
	// shows 0) before it ever changes.
	OnStateChange func(agent string, state string)
}

// errTaskFailed counts a task that failed or was refused as a failure of its agent; errAccepted
// marks a send whose task is still at work: it proves nothing yet either way, so it is not counted.
var (
	errTaskFailed = errors.New("the agent's task failed")
	errAccepted   = errors.New("the agent's task is at work")
)

type breaking struct {
	next     ports.AgentCaller
	settings BreakerSettings
	log      logr.Logger

	mu       sync.Mutex
	breakers map[hook.AgentRef]*gobreaker.CircuitBreaker[ports.Task]
	// ended remembers the tasks whose end was counted, so that a send and a poll reporting
	// the same end count it once. Bounded: it starts over past maxRemembered.
	ended map[string]struct{}
}

const maxRemembered = 4096

// WithBreaker gives each agent its own circuit breaker around next's sends: after
// ConsecutiveFailures failures in a row — transport errors, and tasks that end failed or
// rejected, whether the send or a later poll says so — sends to that agent fail at once
// (wrapping gobreaker.ErrOpenState) for OpenFor, so a down agent gets no storm; other agents are
// unaffected. A task's end counts when it is known: a send whose task is still at work counts
// neither way. Permanent errors and cancellations do not count: they say the request is wrong or
// khook is stopping, not that the agent is down. Polls pass through, so that tasks under way are
// still followed.
func WithBreaker(next ports.AgentCaller, settings BreakerSettings, log logr.Logger) ports.AgentCaller {
	if settings.ConsecutiveFailures == 0 {
		settings.ConsecutiveFailures = 5
	}
	if settings.OpenFor <= 0 {
		settings.OpenFor = 30 * time.Second
	}
	return &breaking{next: next, settings: settings, log: log, breakers: map[hook.AgentRef]*gobreaker.CircuitBreaker[ports.Task]{},
		ended: map[string]struct{}{}}
}

func (b *breaking) Send(ctx context.Context, req ports.AgentRequest) (ports.Task, error) {
	var sendErr error
	task, err := b.breaker(req.Agent).Execute(func() (ports.Task, error) {
		t, err := b.next.Send(ctx, req)
		sendErr = err
		if err != nil {
			return t, err
		}
		v := verdict(t)
		if !errors.Is(v, errAccepted) && !b.firstEnd(req.Agent, t.ID) {
			return t, errAccepted // counted already: count it neither way
		}
		return t, v
	})
	switch {
	case errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests):
		return ports.Task{ContextID: req.ContextID}, fmt.Errorf("circuit breaker for agent %s is open: %w", req.Agent, err)
	case errors.Is(err, errTaskFailed) || errors.Is(err, errAccepted):
		return task, nil // the agent answered; the engine decides what the task's state means
	}
	return task, sendErr
}

func (b *breaking) GetTask(ctx context.Context, agent hook.AgentRef, taskID string) (ports.Task, error) {
	cb := b.breaker(agent) // a poll uses the agent too: after a failover it may be the first use
	t, err := b.next.GetTask(ctx, agent, taskID)
	if err == nil {
		if v := verdict(t); !errors.Is(v, errAccepted) && b.firstEnd(agent, taskID) {
			// The task ended: count how. An open breaker refuses this and counts nothing.
			_, _ = cb.Execute(func() (ports.Task, error) { return t, v })
		}
	}
	return t, err
}

// firstEnd reports whether the end of agent's task id is news (a message answer, with no id,
// always is), and remembers it.
func (b *breaking) firstEnd(agent hook.AgentRef, id string) bool {
	if id == "" {
		return true
	}
	key := agent.String() + "|" + id
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, seen := b.ended[key]; seen {
		return false
	}
	if len(b.ended) >= maxRemembered {
		b.ended = map[string]struct{}{}
	}
	b.ended[key] = struct{}{}
	return true
}

// verdict is what a task says of its agent's health: still at work (errAccepted, not counted),
// failed (errTaskFailed), or fine (nil).
func verdict(t ports.Task) error {
	switch t.State {
	case ports.TaskFailed, ports.TaskRejected:
		return errTaskFailed
	case ports.TaskSubmitted, ports.TaskWorking:
		return errAccepted
	}
	return nil
}

func (b *breaking) breaker(agent hook.AgentRef) *gobreaker.CircuitBreaker[ports.Task] {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cb, ok := b.breakers[agent]; ok {
		return cb
	}
	cb := gobreaker.NewCircuitBreaker[ports.Task](gobreaker.Settings{
		Name:        agent.String(),
		MaxRequests: 1,
		Timeout:     b.settings.OpenFor,
		// Interval 0: counts reset only on a state change, so an investigation's failure reported
		// minutes later still counts (a periodic reset would drop it).
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= b.settings.ConsecutiveFailures },
		IsSuccessful: func(err error) bool {
			return err == nil || errors.Is(err, ports.ErrPermanent)
		},
		IsExcluded: func(err error) bool {
			return errors.Is(err, errAccepted) || errors.Is(err, context.Canceled)
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			b.log.Info("agent circuit breaker changed state", "agent", name, "from", from.String(), "to", to.String())
			if b.settings.OnStateChange != nil {
				b.settings.OnStateChange(name, to.String())
			}
		},
	})
	b.breakers[agent] = cb
	if b.settings.OnStateChange != nil {
		// Under b.mu: nobody can use cb, and so change its state, before this is reported.
		b.settings.OnStateChange(agent.String(), gobreaker.StateClosed.String())
	}
	return cb
}
