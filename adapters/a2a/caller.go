package a2a

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

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
	// CallTimeout bounds one call, session creation and card resolution included.
	CallTimeout time.Duration
	// HTTPClient is used for every request; nil means a client without its own timeout (the
	// per-call timeout applies).
	HTTPClient *http.Client
	Logger     logr.Logger
}

// Caller calls agents over A2A. It is safe for concurrent use.
type Caller struct {
	base     *url.URL
	cfg      Config
	http     *http.Client
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
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Minute
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	// Every request, card and session included, carries the user.
	withUser := *client
	withUser.Transport = userHeader{userID: cfg.UserID, next: transportOf(client)}
	c := &Caller{base: base, cfg: cfg, http: &withUser, clients: map[hook.AgentRef]*a2aclient.Client{}}
	c.sessions = &sessions{base: base, http: &withUser, log: cfg.Logger}
	return c, nil
}

// AgentURL returns the A2A base URL of agent.
func (c *Caller) AgentURL(agent hook.AgentRef) string {
	return c.base.JoinPath("api", "a2a", agent.Namespace, agent.Name).String() + "/"
}

// Call sends req.Prompt to req.Agent and waits for its answer.
func (c *Caller) Call(ctx context.Context, req ports.AgentRequest) (ports.AgentResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	client, err := c.client(ctx, req.Agent)
	if err != nil {
		return ports.AgentResponse{}, err
	}
	msg := a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart(req.Prompt))
	if req.IdempotencyKey != "" {
		msg.ID = req.IdempotencyKey
	}
	msg.ContextID = c.sessions.forCall(ctx, req)
	msg.Metadata = map[string]any{}
	for k, v := range req.Context {
		msg.Metadata[k] = v
	}
	msg.Metadata["eventName"] = req.EventName
	msg.Metadata["eventTime"] = req.EventTime.UTC().Format(time.RFC3339)
	msg.Metadata["resourceName"] = req.ResourceName

	result, err := client.SendMessage(ctx, &a2a.SendMessageRequest{Message: msg})
	if err != nil {
		c.forget(req.Agent) // the card may have changed; resolve again next time
		return ports.AgentResponse{}, classify(fmt.Errorf("sending message to agent %s: %w", req.Agent, err))
	}
	return responseOf(result), nil
}

// responseOf reads the agent's answer: a message is a success; a task is a success unless it
// failed or was rejected, and its id is the request id.
func responseOf(result a2a.SendMessageResult) ports.AgentResponse {
	switch r := result.(type) {
	case *a2a.Task:
		text := ""
		if r.Status.Message != nil {
			text = textOf(r.Status.Message)
		}
		switch r.Status.State {
		case a2a.TaskStateFailed, a2a.TaskStateRejected, a2a.TaskStateCanceled:
			return ports.AgentResponse{Success: false, RequestID: string(r.ID), Message: fmt.Sprintf("task %s: %s", r.Status.State, text)}
		}
		return ports.AgentResponse{Success: true, RequestID: string(r.ID), Message: text}
	case *a2a.Message:
		return ports.AgentResponse{Success: true, RequestID: r.ID, Message: textOf(r)}
	default:
		return ports.AgentResponse{Success: false, Message: fmt.Sprintf("unexpected A2A result %T", result)}
	}
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

// client returns the A2A client of agent, resolving its card on first use.
func (c *Caller) client(ctx context.Context, agent hook.AgentRef) (*a2aclient.Client, error) {
	c.mu.Lock()
	cl, ok := c.clients[agent]
	c.mu.Unlock()
	if ok {
		return cl, nil
	}
	base := c.AgentURL(agent)
	// The 0.3 parser reads both card formats: 1.0 cards list supportedInterfaces, 0.3 cards a
	// url with a preferred transport and a protocolVersion.
	resolver := &agentcard.Resolver{Client: c.http, CardParser: a2av0.NewAgentCardParser()}
	card, err := resolver.Resolve(ctx, base)
	if err != nil {
		return nil, classify(fmt.Errorf("resolving agent card of %s at %s: %w", agent, base, err))
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
		return nil, Permanent(fmt.Errorf("creating A2A client for %s: %w", agent, err))
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

// PermanentError marks a failure that retrying will not fix: a missing agent, a refused request.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error { return &PermanentError{Err: err} }

// IsPermanent reports whether err is marked permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// permanentA2AErrors are protocol errors that say the request itself is wrong.
var permanentA2AErrors = []error{
	a2a.ErrParseError, a2a.ErrInvalidRequest, a2a.ErrMethodNotFound, a2a.ErrInvalidParams,
	a2a.ErrUnsupportedOperation, a2a.ErrUnsupportedContentType, a2a.ErrVersionNotSupported,
	a2a.ErrUnauthenticated, a2a.ErrUnauthorized, a2a.ErrExtensionSupportRequired,
}

// classify marks err permanent when retrying cannot help; network errors, timeouts, 5xx and
// internal errors stay transient.
func classify(err error) error {
	for _, p := range permanentA2AErrors {
		if errors.Is(err, p) {
			return Permanent(err)
		}
	}
	var status *agentcard.ErrStatusNotOK
	if errors.As(err, &status) && status.StatusCode >= 400 && status.StatusCode < 500 &&
		status.StatusCode != http.StatusRequestTimeout && status.StatusCode != http.StatusTooManyRequests {
		return Permanent(err)
	}
	return err
}

type userHeader struct {
	userID string
	next   http.RoundTripper
}

func (u userHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	if u.userID != "" {
		r = r.Clone(r.Context())
		r.Header.Set("X-User-Id", u.userID)
	}
	return u.next.RoundTrip(r)
}

func transportOf(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}
