package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// When an agent works again, only what failed for lack of it gets a new round, and only once:
// not what the agent itself failed, not a prompt that cannot be rendered, and not again with
// every firing the agent accepts.
func TestOnlyWhatFailedForLackOfTheAgentIsRevivedWhenItWorksAgain(t *testing.T) {
	web1, web2 := firing(hookX, "web-1"), firing(hookX, "web-2")
	handOver := func(fs ...delivery.Firing) func(*fixture) {
		return func(f *fixture) {
			for _, fi := range fs {
				ensure(f.engine, fi, agentA)
			}
		}
	}
	refused := func(int) (ports.Task, error) {
		return ports.Task{}, fmt.Errorf("HTTP 400: message too large: %w", ports.ErrPermanent)
	}
	tests := []struct {
		name  string
		setup func(f *fixture)
		// x answers hook x's n-th send (from 0); hook y's firings are always accepted.
		x          func(n int) (ports.Task, error)
		wantSends  int
		wantRender int // -1: not checked
		wantState  delivery.State
	}{
		{"tasks the agent ran and failed are outcomes, not sent again", handOver(web1, web2),
			func(int) (ports.Task, error) { return ports.Task{ID: "t", State: ports.TaskFailed}, nil }, 2, -1, delivery.Failed},
		{"a prompt that cannot be rendered is not rendered again", func(f *fixture) {
			f.prepare.mu.Lock()
			f.prepare.failHook = map[hook.Ref]error{hookX: errors.New("prompt:1:5: step budget of 10000 exceeded")}
			f.prepare.mu.Unlock()
			handOver(web1)(f)
		}, completedAnswer, 0, 1, delivery.Undeliverable},
		{"a firing the agent refuses on its own gets one more round when the agent next works, not one per firing it accepts",
			handOver(web1), refused, 2, -1, delivery.Undeliverable},
		{"a firing refused while the agent was missing is delivered once it accepts another", handOver(web1),
			func(n int) (ports.Task, error) {
				if n == 0 {
					return ports.Task{}, fmt.Errorf("agent card: HTTP 404: %w", ports.ErrPermanent)
				}
				return completedAnswer(n)
			}, 2, 2, delivery.Completed},
		{"a firing whose attempts were used up while the agent was unreachable is delivered once it recovers", handOver(web1),
			func(n int) (ports.Task, error) {
				if n < 2 {
					return ports.Task{}, errors.New("dial tcp: connection refused")
				}
				return completedAnswer(n)
			}, 3, 3, delivery.Completed},
		{"after a restart, a firing the ledger says was refused is delivered once the agent accepts another", func(f *fixture) {
			f.engine.Restore(hookX, []delivery.Record{{Firing: web1, Agent: agentA, MessageID: delivery.MessageID(web1, agentA),
				State: delivery.Undeliverable, Cause: delivery.CauseAgentRefused, LastError: "agent card: HTTP 401", Attempts: 1}})
			f.engine.Configure(hookX, delivery.Assignment{Active: []hook.Configuration{{EventType: web1.Key.Type, Agent: agentA, Prompt: "x"}}})
		}, completedAnswer, 1, 1, delivery.Completed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, delivery.Options{MaxAttempts: 2, RetryInitial: time.Minute, RetryMax: time.Minute,
				MaxSendsPerAgent: 10, MaxInvestigationsPerAgent: 20})
			var mu sync.Mutex
			xSends := 0
			f.agent.OnSend = func(_ context.Context, req ports.AgentRequest, _ int) (ports.Task, error) {
				if req.Hook != hookX {
					return ports.Task{ID: "task-" + req.MessageID, State: ports.TaskWorking}, nil
				}
				mu.Lock()
				n := xSends
				xSends++
				mu.Unlock()
				return tt.x(n)
			}
			tt.setup(f)
			f.engine.Wait()
			for range 5 { // hook x's attempts are used up
				f.after(10 * time.Minute)
			}
			for i := range 4 { // the agent works on other firings
				ensure(f.engine, firing(hookY, fmt.Sprintf("db-%d", i)), agentA)
				f.engine.Wait()
				for range 3 {
					f.after(10 * time.Minute)
				}
			}
			mu.Lock()
			n := xSends
			mu.Unlock()
			if n != tt.wantSends {
				t.Fatalf("hook x's firings were sent %d times, want %d", n, tt.wantSends)
			}
			if n := f.prepare.prepared(hookX); tt.wantRender >= 0 && n != tt.wantRender {
				t.Fatalf("hook x's prompts were rendered %d times, want %d", n, tt.wantRender)
			}
			records := f.engine.Records(hookX)
			for _, r := range records {
				if r.State != tt.wantState {
					t.Fatalf("hook x's record %+v, want %s", r, tt.wantState)
				}
			}
		})
	}
}

func completedAnswer(int) (ports.Task, error) { return completed("t") }
