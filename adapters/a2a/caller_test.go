package a2a_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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
		Hook: hook.Ref{Namespace: "apps", Name: "restarts"}, Agent: agent, Prompt: prompt,
		EventName: "pod-restart", EventTime: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), ResourceName: "web-1",
		Context: map[string]string{"namespace": "apps", "reason": "BackOff"}, IdempotencyKey: "firing-1",
	}
}

func newCaller(t *testing.T, url string) *a2a.Caller {
	t.Helper()
	c, err := a2a.NewCaller(a2a.Config{KagentURL: url, UserID: "admin@kagent.dev", CallTimeout: 10 * time.Second, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCallerDeliversThePromptToTheAgent(t *testing.T) {
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
			resp, err := newCaller(t, srv.URL).Call(context.Background(), request("investigate web-1"))
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			if !resp.Success || resp.RequestID == "" || !strings.Contains(resp.Message, "echo: investigate web-1") {
				t.Fatalf("response = %+v", resp)
			}
			got := srv.ReceivedBy("kagent/k8s-agent")
			if len(got) != 1 {
				t.Fatalf("agent received %d messages, want 1", len(got))
			}
			m := got[0]
			if m.Text != "investigate web-1" || m.UserID != "admin@kagent.dev" || m.MessageID != "firing-1" {
				t.Fatalf("message = %+v", m)
			}
			if tt.wantVersion != "" && m.A2AVersion != tt.wantVersion {
				t.Fatalf("A2A-Version = %q, want %q", m.A2AVersion, tt.wantVersion)
			}
			if m.Metadata["reason"] != "BackOff" || m.Metadata["eventName"] != "pod-restart" || m.Metadata["resourceName"] != "web-1" {
				t.Fatalf("metadata = %v", m.Metadata)
			}
			sessions := srv.Sessions()
			if tt.wantSession {
				if len(sessions) != 1 || sessions[0].AgentRef != "kagent/k8s-agent" || sessions[0].UserID != "admin@kagent.dev" || m.ContextID != sessions[0].ID {
					t.Fatalf("sessions = %+v, message context %q", sessions, m.ContextID)
				}
			} else if len(sessions) != 0 {
				t.Fatalf("sessions = %+v", sessions)
			}
		})
	}
}

func TestCallerMarksAMissingAgentPermanent(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, err := newCaller(t, srv.URL).Call(context.Background(), request("x"))
	if err == nil || !a2a.IsPermanent(err) || !strings.Contains(err.Error(), "resolving agent card of kagent/k8s-agent") {
		t.Fatalf("Call = %v, want a permanent error naming the agent", err)
	}
}

func TestNewCallerRejectsARelativeURL(t *testing.T) {
	if _, err := a2a.NewCaller(a2a.Config{KagentURL: "kagent:8083"}); err == nil {
		t.Fatal("NewCaller accepted a URL without a scheme")
	}
}

func TestRetryDeliversOnceAfterTransientFailures(t *testing.T) {
	srv := echoagent.Start(echoagent.Options{})
	defer srv.Close()
	srv.FailNext(2)
	caller := a2a.WithRetry(newCaller(t, srv.URL), a2a.RetryPolicy{InitialInterval: 10 * time.Millisecond, MaxRetries: 5}, logr.Discard())
	resp, err := caller.Call(context.Background(), request("x"))
	if err != nil || !resp.Success {
		t.Fatalf("Call = %+v, %v", resp, err)
	}
	if srv.Attempts() != 3 || len(srv.Received()) != 1 {
		t.Fatalf("attempts = %d, delivered = %d; want 3 attempts and one delivery", srv.Attempts(), len(srv.Received()))
	}
	if n := len(srv.Sessions()); n != 1 {
		t.Fatalf("the retries opened %d Kagent sessions, want the firing's one", n)
	}
	next := request("next firing")
	next.IdempotencyKey = "firing-2"
	if _, err := caller.Call(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Sessions()); n != 2 {
		t.Fatalf("a new firing got no session of its own: %d sessions", n)
	}
}

func TestRetryGivesUpAtOnceOnPermanentErrors(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls++; http.NotFound(w, r) }))
	defer srv.Close()
	caller := a2a.WithRetry(newCaller(t, srv.URL), a2a.RetryPolicy{InitialInterval: time.Millisecond, MaxRetries: 5}, logr.Discard())
	if _, err := caller.Call(context.Background(), request("x")); err == nil {
		t.Fatal("want an error")
	}
	if calls != 1 {
		t.Fatalf("a permanent error was retried: %d requests", calls)
	}
}

func TestBreakerStopsACallStormAndRecovers(t *testing.T) {
	srv := echoagent.Start(echoagent.Options{})
	defer srv.Close()
	srv.FailNext(1000)
	caller := a2a.WithBreaker(newCaller(t, srv.URL), a2a.BreakerSettings{ConsecutiveFailures: 3, OpenFor: 50 * time.Millisecond}, logr.Discard())
	for i := 0; i < 20; i++ {
		_, err := caller.Call(context.Background(), request("x"))
		if err == nil {
			t.Fatal("a down agent answered")
		}
		if i >= 3 && !errors.Is(err, gobreaker.ErrOpenState) {
			t.Fatalf("call %d: %v, want the breaker open", i, err)
		}
	}
	if srv.Attempts() != 3 {
		t.Fatalf("the down agent got %d calls, want 3 before the breaker opened", srv.Attempts())
	}
	other := request("x")
	other.Agent = hook.AgentRef{Namespace: "kagent", Name: "other"}
	srv.FailNext(0)
	if _, err := caller.Call(context.Background(), other); err != nil {
		t.Fatalf("another agent is blocked by the open breaker: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := caller.Call(context.Background(), request("x"))
		if err == nil && resp.Success {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent recovered but calls still fail: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
