package a2a_test

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	a2apb "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/go-logr/logr"
	"github.com/sony/gobreaker/v2"

	"github.com/khook-dev/khook/adapters/a2a"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
	"github.com/khook-dev/khook/test/echoagent"
)

var agent = hook.AgentRef{Namespace: "kagent", Name: "k8s-agent"}

func request(prompt string) ports.AgentRequest {
	return ports.AgentRequest{
		Hook: hook.Ref{Namespace: "apps", Name: "restarts"}, Agent: agent, Prompt: prompt, MessageID: "firing-1",
		EventType: "pod-restart", EventTime: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), ResourceName: "web-1",
		Metadata: map[string]string{"namespace": "apps", "reason": "BackOff"},
	}
}

func newCaller(t *testing.T, url string, security a2a.Security, transport http.RoundTripper) *a2a.Caller {
	t.Helper()
	c, err := a2a.NewCaller(a2a.Config{KagentURL: url, UserID: "admin@kagent.dev", Security: security, Transport: transport, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eventually polls check until it passes, failing after a generous deadline.
func eventually(t *testing.T, check func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSendHandsOverAndReturnsTheTaskWhichGetTaskFollowsToItsEnd(t *testing.T) {
	tests := []struct {
		name        string
		opts        echoagent.Options
		wantVersion string
		wantSession bool
	}{
		{"a current Kagent gets A2A 1.0 in a new session", echoagent.Options{RequireV1: true}, "1.0", true},
		{"an older Kagent gets the 0.3 protocol", echoagent.Options{Legacy: true}, "", true},
		{"a Kagent without the sessions API still gets the message", echoagent.Options{NoSessions: true}, "1.0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := echoagent.Start(tt.opts)
			defer srv.Close()
			srv.SetBehavior("", echoagent.Behavior{Duration: time.Second}) // longer than the send may take
			caller := newCaller(t, srv.URL, a2a.Security{}, nil)

			task, err := caller.Send(context.Background(), request("investigate web-1"))
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if task.ID == "" || (task.State != ports.TaskSubmitted && task.State != ports.TaskWorking) {
				t.Fatalf("Send returned %+v, want the task still at work (return-immediately)", task)
			}
			got := srv.ReceivedBy("kagent/k8s-agent")
			if len(got) != 1 {
				t.Fatalf("agent received %d messages, want 1", len(got))
			}
			m := got[0]
			if m.Text != "investigate web-1" || m.UserID != "admin@kagent.dev" || m.MessageID != "firing-1" || m.TaskID != task.ID {
				t.Fatalf("message = %+v", m)
			}
			if tt.wantVersion != "" && m.A2AVersion != tt.wantVersion {
				t.Fatalf("A2A-Version = %q, want %q", m.A2AVersion, tt.wantVersion)
			}
			if m.Metadata["reason"] != "BackOff" || m.Metadata["namespace"] != "apps" {
				t.Fatalf("metadata = %v", m.Metadata)
			}
			sessions := srv.Sessions()
			if tt.wantSession {
				if len(sessions) != 1 || sessions[0].AgentRef != "kagent/k8s-agent" || m.ContextID != sessions[0].ID || task.ContextID != sessions[0].ID {
					t.Fatalf("sessions = %+v, message context %q, task context %q", sessions, m.ContextID, task.ContextID)
				}
			} else if len(sessions) != 0 {
				t.Fatalf("sessions = %+v", sessions)
			}

			eventually(t, func() error {
				now, err := caller.GetTask(context.Background(), agent, task.ID)
				if err != nil {
					return err
				}
				if now.State != ports.TaskCompleted || now.Summary != "echo: investigate web-1" {
					return fmt.Errorf("task = %+v, want completed with the echo", now)
				}
				return nil
			})
		})
	}
}

func TestTheAgentsAnswerIsReadAsATaskStateOrAFinalMessage(t *testing.T) {
	tests := []struct {
		name      string
		behavior  echoagent.Behavior
		wantState ports.TaskState
		wantID    bool
	}{
		{"a failed task", echoagent.Behavior{End: a2apb.TaskStateFailed, Summary: "model overloaded"}, ports.TaskFailed, true},
		{"a rejected task", echoagent.Behavior{End: a2apb.TaskStateRejected, Summary: "not my job"}, ports.TaskRejected, true},
		{"a task that needs input", echoagent.Behavior{End: a2apb.TaskStateInputRequired, Summary: "which cluster?"}, ports.TaskInputRequired, true},
		{"an answer at once is a message: done, no task", echoagent.Behavior{AnswerWithMessage: true, Summary: "all good"}, ports.TaskCompleted, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := echoagent.Start(echoagent.Options{})
			defer srv.Close()
			srv.SetBehavior("kagent/k8s-agent", tt.behavior)
			caller := newCaller(t, srv.URL, a2a.Security{}, nil)
			task, err := caller.Send(context.Background(), request("x"))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.wantID {
				if task.ID != "" || task.State != tt.wantState || task.Summary != tt.behavior.Summary {
					t.Fatalf("Send = %+v", task)
				}
				return
			}
			eventually(t, func() error {
				now, err := caller.GetTask(context.Background(), agent, task.ID)
				if err != nil {
					return err
				}
				if now.State != tt.wantState || now.Summary != tt.behavior.Summary {
					return fmt.Errorf("task = %+v, want %s with %q", now, tt.wantState, tt.behavior.Summary)
				}
				return nil
			})
		})
	}
}

func TestAnAttemptThatCarriesASessionContinuesIt(t *testing.T) {
	srv := echoagent.Start(echoagent.Options{})
	defer srv.Close()
	caller := newCaller(t, srv.URL, a2a.Security{}, nil)
	first, err := caller.Send(context.Background(), request("x"))
	if err != nil {
		t.Fatal(err)
	}
	again := request("x")
	again.ContextID = first.ContextID
	if _, err := caller.Send(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Sessions()); n != 1 {
		t.Fatalf("%d sessions, want the first attempt's one continued", n)
	}
	if got := srv.ReceivedBy("kagent/k8s-agent"); got[1].ContextID != first.ContextID {
		t.Fatalf("the second attempt went to context %q, want %q", got[1].ContextID, first.ContextID)
	}
}

func TestAFailedSendReturnsItsSessionAndEveryLaterAttemptContinuesIt(t *testing.T) {
	policy := a2a.RetryPolicy{InitialInterval: 10 * time.Millisecond, MaxRetries: 5}
	tests := []struct {
		name string
		// send makes the attempts: a failing one, then the next, as the delivery engine would.
		send func(t *testing.T, c *a2a.Caller, srv *echoagent.Server)
	}{
		{"the engine's next attempt, given the session the failed one returned", func(t *testing.T, c *a2a.Caller, srv *echoagent.Server) {
			srv.FailNext(1)
			failed, err := c.Send(context.Background(), request("x"))
			if err == nil {
				t.Fatal("the first send did not fail")
			}
			if failed.ContextID == "" {
				t.Fatalf("a failed send returned no session (%+v)", failed)
			}
			again := request("x")
			again.ContextID = failed.ContextID
			if _, err := c.Send(context.Background(), again); err != nil {
				t.Fatal(err)
			}
		}},
		{"the quick retries of one send", func(t *testing.T, c *a2a.Caller, srv *echoagent.Server) {
			srv.FailNext(2)
			if _, err := a2a.WithRetry(c, policy, logr.Discard()).Send(context.Background(), request("x")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := echoagent.Start(echoagent.Options{})
			defer srv.Close()
			tt.send(t, newCaller(t, srv.URL, a2a.Security{}, nil), srv)
			sessions, got := srv.Sessions(), srv.ReceivedBy("kagent/k8s-agent")
			if len(sessions) != 1 || len(got) != 1 || got[0].ContextID != sessions[0].ID {
				t.Fatalf("sessions %+v, delivered %+v: want one session, continued by the attempt that got through", sessions, got)
			}
		})
	}
}

func TestFailuresAreClassifiedSoThatTheDomainKnowsWhetherToRetry(t *testing.T) {
	var hangURL string
	stop := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "agent-card.json") {
			card := &a2apb.AgentCard{Name: "k8s-agent", Version: "1", SupportedInterfaces: []*a2apb.AgentInterface{{
				URL: hangURL + "/api/a2a/kagent/k8s-agent/", ProtocolBinding: a2apb.TransportProtocolJSONRPC, ProtocolVersion: a2apb.Version}}}
			a2asrv.NewStaticAgentCardHandler(card).ServeHTTP(w, r)
			return
		}
		select { // the message arrives, the answer never does
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer hang.Close()
	defer close(stop)
	hangURL = hang.URL
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	secured := echoagent.Start(echoagent.Options{Token: "secret"})
	defer secured.Close()
	tests := []struct {
		name  string
		setup func(*echoagent.Server) string // returns the Kagent URL
		call  func(c *a2a.Caller) error
		want  error // nil: transient (safe to send again)
	}{
		{"an agent whose card is missing is refused for good",
			func(s *echoagent.Server) string { s.SetMissing("kagent/k8s-agent", true); return s.URL },
			func(c *a2a.Caller) error { _, err := c.Send(context.Background(), request("x")); return err }, ports.ErrPermanent},
		{"a Kagent asking for a token khook lacks is refused for good",
			func(*echoagent.Server) string { return secured.URL },
			func(c *a2a.Caller) error { _, err := c.Send(context.Background(), request("x")); return err }, ports.ErrPermanent},
		{"an unavailable agent is worth another try", func(s *echoagent.Server) string { s.FailNext(1); return s.URL },
			func(c *a2a.Caller) error { _, err := c.Send(context.Background(), request("x")); return err }, nil},
		{"a Kagent that cannot be reached is worth another try", func(*echoagent.Server) string { return closed.URL },
			func(c *a2a.Caller) error { _, err := c.Send(context.Background(), request("x")); return err }, nil},
		{"a send whose answer never comes may have reached the agent", func(*echoagent.Server) string { return hang.URL },
			func(c *a2a.Caller) error {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				_, err := c.Send(ctx, request("x"))
				return err
			}, ports.ErrUncertain},
		{"a task the agent does not know is not found", func(s *echoagent.Server) string { return s.URL },
			func(c *a2a.Caller) error {
				_, err := c.GetTask(context.Background(), agent, "no-such-task")
				return err
			}, ports.ErrTaskNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := echoagent.Start(echoagent.Options{})
			defer srv.Close()
			err := tt.call(newCaller(t, tt.setup(srv), a2a.Security{}, nil))
			if err == nil {
				t.Fatal("want an error")
			}
			for _, class := range []error{ports.ErrPermanent, ports.ErrUncertain, ports.ErrTaskNotFound} {
				if errors.Is(err, class) != (class == tt.want) {
					t.Fatalf("error %q: is %v = %v, want classified as %v", err, class, errors.Is(err, class), tt.want)
				}
			}
			if !strings.Contains(err.Error(), "kagent/k8s-agent") {
				t.Fatalf("error %q does not name the agent", err)
			}
			if missing := strings.Contains(tt.name, "card is missing"); errors.Is(err, ports.ErrAgentNotFound) != missing {
				t.Fatalf("error %q: is agent-not-found = %v, want %v (only a missing agent is)", err, !missing, missing)
			}
		})
	}
}

func TestASecuredKagentGetsItsCATokenAndHeaders(t *testing.T) {
	srv := echoagent.Start(echoagent.Options{TLS: true, Token: "token-1"})
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("token-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	caller := newCaller(t, srv.URL, a2a.Security{CAFile: ca, TokenFile: token, Headers: map[string]string{"X-Tenant": "platform"}}, nil)
	if _, err := caller.Send(context.Background(), request("x")); err != nil {
		t.Fatalf("Send over TLS with the token: %v", err)
	}
	if got := srv.LastHeader().Get("X-Tenant"); got != "platform" {
		t.Fatalf("X-Tenant = %q", got)
	}

	// The token is rotated in place, as a projected service-account token is.
	if err := os.WriteFile(token, []byte("token-2-longer"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := caller.Send(context.Background(), request("y"))
	if !errors.Is(err, ports.ErrPermanent) {
		t.Fatalf("Send with the rotated token = %v; the server still wants token-1, so want a refusal", err)
	}
	if got := srv.Tokens(); got[len(got)-1] != "token-2-longer" {
		t.Fatalf("tokens sent %v: the rotated token was not read again", got)
	}
}

func TestSecuritySettingsAreValidatedWithTheFieldNamed(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		security a2a.Security
		want     string
	}{
		{"a CA bundle without certificates is refused", a2a.Security{CAFile: notPEM}, "CAFile: " + notPEM + " holds no PEM certificate"},
		{"a missing CA bundle is refused", a2a.Security{CAFile: filepath.Join(dir, "nope.pem")}, "CAFile: reading the CA bundle"},
		{"a header name with a colon is refused", a2a.Security{Headers: map[string]string{"X-A: b": "c"}}, `Headers: "X-A: b" is not a header name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a2a.NewCaller(a2a.Config{KagentURL: "http://kagent:8083", Security: tt.security})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewCaller = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestNewCallerRejectsARelativeURL(t *testing.T) {
	if _, err := a2a.NewCaller(a2a.Config{KagentURL: "kagent:8083"}); err == nil {
		t.Fatal("NewCaller accepted a URL without a scheme")
	}
}

func TestRetryResendsOnlyWhatSurelyDidNotArrive(t *testing.T) {
	srv := echoagent.Start(echoagent.Options{})
	defer srv.Close()
	srv.FailNext(2)
	policy := a2a.RetryPolicy{InitialInterval: 10 * time.Millisecond, MaxRetries: 5}
	caller := a2a.WithRetry(newCaller(t, srv.URL, a2a.Security{}, nil), policy, logr.Discard())
	if _, err := caller.Send(context.Background(), request("x")); err != nil {
		t.Fatalf("Send = %v", err)
	}
	if srv.Attempts() != 3 || len(srv.Received()) != 1 {
		t.Fatalf("attempts = %d, delivered = %d; want 3 attempts and one delivery", srv.Attempts(), len(srv.Received()))
	}

	calls := 0
	uncertain := a2a.WithRetry(agentFunc(func() error { calls++; return fmt.Errorf("timeout: %w", ports.ErrUncertain) }), policy, logr.Discard())
	if _, err := uncertain.Send(context.Background(), request("x")); !errors.Is(err, ports.ErrUncertain) || calls != 1 {
		t.Fatalf("an uncertain send was retried (%d calls, %v): it may start a second investigation", calls, err)
	}
	calls = 0
	permanent := a2a.WithRetry(agentFunc(func() error { calls++; return fmt.Errorf("404: %w", ports.ErrPermanent) }), policy, logr.Discard())
	if _, err := permanent.Send(context.Background(), request("x")); err == nil || calls != 1 {
		t.Fatalf("a permanent error was retried: %d calls", calls)
	}
}

// agentFunc is an AgentCaller whose every request returns what fail returns.
type agentFunc func() error

func (f agentFunc) Send(context.Context, ports.AgentRequest) (ports.Task, error) {
	return ports.Task{}, f()
}
func (f agentFunc) GetTask(context.Context, hook.AgentRef, string) (ports.Task, error) {
	return ports.Task{}, f()
}

func TestTheBreakerStopsASendStormCountsFailedTasksAndRecovers(t *testing.T) {
	srv := echoagent.Start(echoagent.Options{})
	defer srv.Close()
	var states []string
	// The storm below must meet the breaker still open: OpenFor is long enough that no stall of
	// a busy machine under -race lets it half-open first (a trial would go through).
	settings := a2a.BreakerSettings{ConsecutiveFailures: 3, OpenFor: 2 * time.Second,
		OnStateChange: func(agent, state string) { states = append(states, agent+"="+state) }}
	caller := a2a.WithBreaker(newCaller(t, srv.URL, a2a.Security{}, nil), settings, logr.Discard())

	srv.SetBehavior("kagent/k8s-agent", echoagent.Behavior{AnswerWithMessage: false, End: a2apb.TaskStateFailed})
	for i := range 3 { // three tasks that fail, learned by polling
		task, err := caller.Send(context.Background(), request(fmt.Sprint(i)))
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		eventually(t, func() error {
			now, err := caller.GetTask(context.Background(), agent, task.ID)
			if err != nil || now.State != ports.TaskFailed {
				return fmt.Errorf("task %s: %+v %v", task.ID, now, err)
			}
			return nil
		})
	}
	before := srv.Attempts()
	for range 10 {
		if _, err := caller.Send(context.Background(), request("storm")); !errors.Is(err, gobreaker.ErrOpenState) {
			t.Fatalf("Send = %v, want the breaker open after three failed tasks", err)
		}
	}
	if srv.Attempts() != before {
		t.Fatalf("the open breaker let %d sends through", srv.Attempts()-before)
	}
	other := request("x")
	other.Agent = hook.AgentRef{Namespace: "kagent", Name: "other"}
	if _, err := caller.Send(context.Background(), other); err != nil {
		t.Fatalf("another agent is blocked by the open breaker: %v", err)
	}
	srv.SetBehavior("kagent/k8s-agent", echoagent.Behavior{})
	var trial ports.Task
	eventually(t, func() error { // half-open lets a trial through once OpenFor has passed
		var err error
		trial, err = caller.Send(context.Background(), request("after"))
		return err
	})
	eventually(t, func() error { // its task completing closes the breaker
		now, err := caller.GetTask(context.Background(), agent, trial.ID)
		if err != nil || now.State != ports.TaskCompleted {
			return fmt.Errorf("trial task: %+v %v", now, err)
		}
		return nil
	})
	if fmt.Sprint(states) != "[kagent/k8s-agent=closed kagent/k8s-agent=open kagent/other=closed kagent/k8s-agent=half-open kagent/k8s-agent=closed]" {
		t.Fatalf("breaker states reported: %v", states)
	}
}

func TestAnAgentsBreakerStateIsReportedClosedWhenTheAgentIsFirstUsed(t *testing.T) {
	srv := echoagent.Start(echoagent.Options{})
	defer srv.Close()
	other := hook.AgentRef{Namespace: "kagent", Name: "other"}
	tests := []struct {
		name string
		use  func(caller ports.AgentCaller)
		want string
	}{
		{"no agent used, no state reported", func(ports.AgentCaller) {}, "[]"},
		{"a first send reports the agent's breaker closed",
			func(c ports.AgentCaller) { _, _ = c.Send(context.Background(), request("x")) }, "[kagent/k8s-agent=closed]"},
		{"further sends to it report nothing more",
			func(c ports.AgentCaller) {
				for range 3 {
					_, _ = c.Send(context.Background(), request("x"))
				}
			}, "[kagent/k8s-agent=closed]"},
		{"each agent is reported once, on its own first use",
			func(c ports.AgentCaller) {
				_, _ = c.Send(context.Background(), request("x"))
				r := request("y")
				r.Agent = other
				_, _ = c.Send(context.Background(), r)
				_, _ = c.Send(context.Background(), request("z"))
			}, "[kagent/k8s-agent=closed kagent/other=closed]"},
		{"a first poll, as after a failover, reports it too",
			func(c ports.AgentCaller) { _, _ = c.GetTask(context.Background(), agent, "task-from-before") }, "[kagent/k8s-agent=closed]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var states []string
			caller := a2a.WithBreaker(newCaller(t, srv.URL, a2a.Security{}, nil),
				a2a.BreakerSettings{OnStateChange: func(agent, state string) { states = append(states, agent+"="+state) }}, logr.Discard())
			tt.use(caller)
			if got := fmt.Sprint(states); got != tt.want {
				t.Errorf("states reported %s, want %s", got, tt.want)
			}
		})
	}
}
