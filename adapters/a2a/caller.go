package a2a

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/a2aproject/a2a-go/v2/a2aclient/agentcard"
	"github.com/a2aproject/a2a-go/v2/a2acompat/a2av0"
	"github.com/go-logr/logr"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// Config configures the caller.
type Config struct {
	// KagentURL is Kagent's base URL, e.g. http://kagent-controller.kagent:8083.
	KagentURL string
	// UserID is sent as X-User-Id; Kagent attributes sessions to it.
	UserID string
	// Security: CA bundle, bearer token file, extra headers for a secured Kagent.
	Security Security
	// Transport is the base HTTP transport; nil means a copy of http.DefaultTransport. Timeouts
	// come from the caller's context.
	Transport http.RoundTripper
	Logger    logr.Logger
}

// Caller sends prompts to Kagent agents over A2A and follows the tasks they start. It never waits
// for an investigation: a message is sent with A2A's return-immediately option. It is safe for
// concurrent use.
type Caller struct {
	base     *url.URL
	cfg      Config
	http     *http.Client // A2A: error statuses become *StatusError
	sessions *sessions

	mu      sync.Mutex
	clients map[hook.AgentRef]*a2aclient.Client
}

var _ ports.AgentCaller = (*Caller)(nil)

// NewCaller returns a caller for the Kagent at cfg.KagentURL.
func NewCaller(cfg Config) (*Caller, error) {
	base, err := url.Parse(cfg.KagentURL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("kagent URL %q is not an absolute URL", cfg.KagentURL)
	}
	if err := cfg.Security.Validate(); err != nil {
		return nil, fmt.Errorf("kagent security: %w", err)
	}
	rt, err := cfg.Security.transport(cfg.Transport, cfg.UserID)
	if err != nil {
		return nil, fmt.Errorf("kagent transport: %w", err)
	}
	c := &Caller{base: base, cfg: cfg, http: &http.Client{Transport: statusErrors{next: rt}}, clients: map[hook.AgentRef]*a2aclient.Client{}}
	c.sessions = &sessions{base: base, http: &http.Client{Transport: rt}, log: cfg.Logger}
	return c, nil
}

// AgentURL returns the A2A base URL of agent, <kagent-url>/api/a2a/<namespace>/<name>/. An agent
// reference that names no Kubernetes object (see hook.AgentRef.Validate) is refused with an error
// that is ports.ErrPermanent: nothing is built from it, so a tenant's "../admin" can never
// reach another path of the Kagent host. The segments are escaped all the same, and joined
// as they are: nothing in them is resolved.
func (c *Caller) AgentURL(agent hook.AgentRef) (string, error) {
	if err := agent.Validate(); err != nil {
		return "", fmt.Errorf("agent %s: %w: %w", agent, ports.ErrPermanent, err)
	}
	u := *c.base
	escaped := strings.TrimSuffix(u.EscapedPath(), "/") + "/api/a2a/" + url.PathEscape(agent.Namespace) + "/" + url.PathEscape(agent.Name) + "/"
	path, err := url.PathUnescape(escaped)
	if err != nil {
		return "", fmt.Errorf("agent %s: %w: building its URL: %w", agent, ports.ErrPermanent, err)
	}
	u.Path, u.RawPath = path, escaped
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	return u.String(), nil
}

// Send implements ports.AgentCaller: it opens a Kagent session when req continues none, and sends
// the prompt with return-immediately, so the answer is the task the agent started (or, from an
// agent that answers at once, its message). The returned task carries the session even when the
// send failed, so that the next attempt continues it.
func (c *Caller) Send(ctx context.Context, req ports.AgentRequest) (ports.Task, error) {
	client, err := c.client(ctx, req.Agent)
	if err != nil {
		return ports.Task{ContextID: req.ContextID}, err
	}
	contextID := req.ContextID
	if contextID == "" {
		contextID = c.sessions.open(ctx, req)
	}
	msg := a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart(req.Prompt))
	msg.ID = req.MessageID
	msg.ContextID = contextID
	msg.Metadata = map[string]any{}
	for k, v := range req.Metadata {
		msg.Metadata[k] = v
	}
	result, err := client.SendMessage(ctx, &a2a.SendMessageRequest{Message: msg, Config: &a2a.SendMessageConfig{ReturnImmediately: true}})
	if err != nil {
		c.forget(req.Agent) // the card may have changed; resolve it again next time
		return ports.Task{ContextID: contextID}, classify(fmt.Errorf("sending to agent %s: %w", req.Agent, err))
	}
	task := taskOf(result)
	if task.ContextID == "" {
		task.ContextID = contextID
	}
	return task, nil
}

// GetTask implements ports.AgentCaller.
func (c *Caller) GetTask(ctx context.Context, agent hook.AgentRef, taskID string) (ports.Task, error) {
	client, err := c.client(ctx, agent)
	if err != nil {
		return ports.Task{}, err
	}
	t, err := client.GetTask(ctx, &a2a.GetTaskRequest{ID: a2a.TaskID(taskID)})
	if err != nil {
		return ports.Task{}, classify(fmt.Errorf("reading task %s of agent %s: %w", taskID, agent, err))
	}
	return taskOf(t), nil
}

// taskOf reads an A2A answer: a task in whatever state, or a message (the work is done).
func taskOf(result a2a.SendMessageResult) ports.Task {
	switch r := result.(type) {
	case *a2a.Task:
		return ports.Task{ID: string(r.ID), ContextID: r.ContextID, State: stateOf(r.Status.State), Summary: summaryOf(r)}
	case *a2a.Message:
		return ports.Task{ContextID: r.ContextID, State: ports.TaskCompleted, Summary: cutRunes(textOf(r), ports.MaxSummaryLength)}
	default:
		return ports.Task{State: ports.TaskFailed, Summary: fmt.Sprintf("unexpected A2A result %T", result)}
	}
}

func stateOf(s a2a.TaskState) ports.TaskState {
	switch s {
	case a2a.TaskStateSubmitted:
		return ports.TaskSubmitted
	case a2a.TaskStateCompleted:
		return ports.TaskCompleted
	case a2a.TaskStateFailed:
		return ports.TaskFailed
	case a2a.TaskStateRejected:
		return ports.TaskRejected
	case a2a.TaskStateCanceled:
		return ports.TaskCanceled
	case a2a.TaskStateInputRequired:
		return ports.TaskInputRequired
	case a2a.TaskStateAuthRequired:
		return ports.TaskAuthRequired
	default: // working, or a state this version does not know: still at work
		return ports.TaskWorking
	}
}

// summaryOf is the text of the task's status message, or else of its last artifact, cut.
func summaryOf(t *a2a.Task) string {
	text := ""
	if t.Status.Message != nil {
		text = textOf(t.Status.Message)
	}
	for i := len(t.Artifacts) - 1; text == "" && i >= 0; i-- {
		if a := t.Artifacts[i]; a != nil {
			var parts []string
			for _, p := range a.Parts {
				if s := p.Text(); s != "" {
					parts = append(parts, s)
				}
			}
			text = strings.Join(parts, "\n")
		}
	}
	return cutRunes(strings.TrimSpace(text), ports.MaxSummaryLength)
}

func textOf(m *a2a.Message) string {
	var parts []string
	for _, p := range m.Parts {
		if t := p.Text(); t != "" {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, "\n")
}

// cutRunes keeps at most n characters of s.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// client returns the A2A client of agent, resolving its card on first use.
func (c *Caller) client(ctx context.Context, agent hook.AgentRef) (*a2aclient.Client, error) {
	c.mu.Lock()
	cl, ok := c.clients[agent]
	c.mu.Unlock()
	if ok {
		return cl, nil
	}
	base, err := c.AgentURL(agent)
	if err != nil {
		return nil, err
	}
	// The 0.3 parser reads both card formats: 1.0 cards list supportedInterfaces, 0.3 cards a
	// url with a preferred transport and a protocolVersion.
	resolver := &agentcard.Resolver{Client: c.http, CardParser: a2av0.NewAgentCardParser()}
	card, err := resolver.Resolve(ctx, base)
	if err != nil {
		return nil, classify(fmt.Errorf("resolving the agent card of %s at %s: %w", agent, base, err))
	}
	if len(card.SupportedInterfaces) == 0 {
		card.SupportedInterfaces = []*a2a.AgentInterface{a2a.NewAgentInterface(base, a2a.TransportProtocolJSONRPC)}
	}
	cl, err = a2aclient.NewFromCard(ctx, card,
		a2aclient.WithJSONRPCTransport(c.http),
		a2aclient.WithRESTTransport(c.http),
		a2av0.WithJSONRPCTransport(a2av0.JSONRPCTransportConfig{Client: c.http}),
		a2av0.WithRESTTransport(a2av0.RESTTransportConfig{Client: c.http}),
	)
	if err != nil {
		return nil, fmt.Errorf("creating an A2A client for %s: %w: %w", agent, ports.ErrPermanent, err)
	}
	c.mu.Lock()
	c.clients[agent] = cl
	c.mu.Unlock()
	return cl, nil
}

func (c *Caller) forget(agent hook.AgentRef) {
	c.mu.Lock()
	delete(c.clients, agent)
	c.mu.Unlock()
}
