package a2a_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/khook-dev/khook/adapters/a2a"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// pathRecorder is a Kagent that knows no agent and remembers the request URIs it received.
type pathRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	uris []string
}

func startPathRecorder(t *testing.T) *pathRecorder {
	t.Helper()
	r := &pathRecorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.uris = append(r.uris, req.RequestURI)
		r.mu.Unlock()
		http.NotFound(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *pathRecorder) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.uris...)
}

func TestTheAgentsCardIsFetchedFromExactlyItsPath(t *testing.T) {
	tests := []struct {
		name   string
		prefix string // of the Kagent URL's path
		agent  hook.AgentRef
		want   string
	}{
		{"an agent lives at /api/a2a/<namespace>/<name>/", "", hook.AgentRef{Namespace: "kagent", Name: "k8s-agent"}, "/api/a2a/kagent/k8s-agent/.well-known/agent-card.json"},
		{"a name with dots is one segment", "", hook.AgentRef{Namespace: "kagent", Name: "k8s.agent.v2"}, "/api/a2a/kagent/k8s.agent.v2/.well-known/agent-card.json"},
		{"a Kagent behind a path prefix keeps it", "/kagent/", hook.AgentRef{Namespace: "team-a", Name: "helper"}, "/kagent/api/a2a/team-a/helper/.well-known/agent-card.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kagent := startPathRecorder(t)
			req := request("x")
			req.Agent = tt.agent
			_, err := newCaller(t, kagent.URL+tt.prefix, a2a.Security{}, nil).Send(context.Background(), req)
			if !errors.Is(err, ports.ErrPermanent) { // the recorder knows no agent
				t.Fatalf("Send = %v, want the missing card's permanent error", err)
			}
			if got := kagent.received(); len(got) != 1 || got[0] != tt.want {
				t.Fatalf("Kagent received %q, want exactly [%q]", got, tt.want)
			}
		})
	}
}

func TestAnAgentReferenceThatNamesNoAgentNeverReachesKagent(t *testing.T) {
	tests := []struct {
		name  string
		agent hook.AgentRef
	}{
		{"a name climbing to the host's /admin", hook.AgentRef{Namespace: "kagent", Name: "../../../../admin"}},
		{"a namespace climbing out of /api/a2a", hook.AgentRef{Namespace: "..", Name: "admin"}},
		{"a name that is a dot", hook.AgentRef{Namespace: "kagent", Name: "."}},
		{"a name with a slash", hook.AgentRef{Namespace: "kagent", Name: "a/b"}},
		{"a name with an escaped slash and dots", hook.AgentRef{Namespace: "kagent", Name: "%2e%2e%2fadmin"}},
		{"a name with a query", hook.AgentRef{Namespace: "kagent", Name: "a?admin=1"}},
		{"an empty name", hook.AgentRef{Namespace: "kagent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kagent := startPathRecorder(t)
			caller := newCaller(t, kagent.URL, a2a.Security{}, nil)
			req := request("x")
			req.Agent = tt.agent
			_, sendErr := caller.Send(context.Background(), req)
			_, getErr := caller.GetTask(context.Background(), tt.agent, "task-1")
			for op, err := range map[string]error{"Send": sendErr, "GetTask": getErr} {
				if !errors.Is(err, ports.ErrPermanent) || !errors.Is(err, hook.ErrInvalidAgent) {
					t.Errorf("%s = %v, want a permanent invalid-agent error", op, err)
				}
				if err != nil && !strings.Contains(err.Error(), tt.agent.String()) {
					t.Errorf("%s error %q does not name the agent", op, err)
				}
			}
			if got := kagent.received(); len(got) != 0 {
				t.Fatalf("Kagent received %q, want nothing", got)
			}
		})
	}
}
