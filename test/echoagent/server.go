package echoagent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2acompat/a2av0"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
)

// Received is one message an agent got.
type Received struct {
	Agent      string // namespace/name
	Text       string
	UserID     string // the X-User-Id header
	A2AVersion string // the A2A-Version header
	ContextID  string
	MessageID  string
	TaskID     string
	Metadata   map[string]any
	At         time.Time
}

// Session is one session created through POST /api/sessions.
type Session struct {
	ID       string
	Name     string
	AgentRef string
	UserID   string
}

// Options change how the server behaves.
type Options struct {
	// Legacy serves 0.3 agent cards and the 0.3 JSON-RPC protocol, like older Kagent releases.
	Legacy bool
	// NoSessions answers 404 on /api/sessions, like a Kagent without the sessions API.
	NoSessions bool
	// RequireV1 rejects messages without the A2A-Version: 1.0 header, like current Kagent.
	RequireV1 bool
	// Token, when set, is the bearer token every request must carry (401 otherwise).
	Token string
	// TLS serves HTTPS with a certificate of httptest's own authority (Server.Certificate).
	TLS bool
}

// Behavior is how an agent works on a message.
type Behavior struct {
	// Duration is how long a task works before it ends (0: it ends at once).
	Duration time.Duration
	// End is the state the task ends in (default completed).
	End a2a.TaskState
	// Summary is the text of the final status message (default "echo: " and the prompt).
	Summary string
	// AnswerWithMessage answers with a message instead of starting a task.
	AnswerWithMessage bool
	// Hold, when not nil, keeps each task working (after Duration) until it is closed, so that a
	// test decides when an investigation ends.
	Hold <-chan struct{}
	// Unavailable answers every message with HTTP 503, as an agent that is down.
	Unavailable bool
}

// Server is a running echo agent server, shaped like Kagent: agents at
// /api/a2a/<namespace>/<name>/ with their card under .well-known, and /api/sessions.
type Server struct {
	*httptest.Server
	opts Options

	mu        sync.Mutex
	received  []Received
	sessions  []Session
	handlers  map[string]http.Handler
	behaviors map[string]Behavior // by agent; "" for every agent
	missing   map[string]bool     // agents whose card is 404
	requests  map[string]int      // "agent method" → count; "agent *" counts every request
	tokens    []string            // bearer tokens seen
	header    http.Header         // the latest request's headers

	attempts atomic.Int64 // every POST to an agent, failed or not
	failNext atomic.Int64 // answer this many POSTs with 503
	onCall   atomic.Pointer[func(Received)]
}

// Start starts a server on a loopback port; Close stops it.
func Start(opts Options) *Server {
	s := &Server{opts: opts, handlers: map[string]http.Handler{}, behaviors: map[string]Behavior{}, missing: map[string]bool{}, requests: map[string]int{}}
	if opts.TLS {
		s.Server = httptest.NewTLSServer(http.HandlerFunc(s.route))
	} else {
		s.Server = httptest.NewServer(http.HandlerFunc(s.route))
	}
	return s
}

// AgentURL is the URL of the agent namespace/name's A2A endpoint.
func (s *Server) AgentURL(namespace, name string) string {
	return fmt.Sprintf("%s/api/a2a/%s/%s/", s.URL, namespace, name)
}

// FailNext makes the next n agent POSTs answer HTTP 503.
func (s *Server) FailNext(n int) { s.failNext.Store(int64(n)) }

// SetDelay makes every agent's tasks work for d before they complete.
func (s *Server) SetDelay(d time.Duration) { s.SetBehavior("", Behavior{Duration: d}) }

// SetBehavior sets how agent ("namespace/name"; "" for every agent without its own) works.
func (s *Server) SetBehavior(agent string, b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behaviors[agent] = b
}

// SetMissing makes agent's card answer 404, as for an agent that does not exist.
func (s *Server) SetMissing(agent string, missing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.missing[agent] = missing
}

// OnCall sets a function called with each message as it arrives.
func (s *Server) OnCall(f func(Received)) { s.onCall.Store(&f) }

// Attempts counts the agent POSTs that reached the server, failed ones included.
func (s *Server) Attempts() int { return int(s.attempts.Load()) }

// Requests counts agent's JSON-RPC requests of method (e.g. "GetTask" or "tasks/get"); "*"
// counts every request to the agent, card fetches and refused ones included.
func (s *Server) Requests(agent, method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[agent+" "+method]
}

// Tokens lists the bearer tokens requests carried, in order.
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...)
}

// LastHeader returns the headers of the latest request.
func (s *Server) LastHeader() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.header.Clone()
}

// Received returns the messages agents got, in order of arrival.
func (s *Server) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// ReceivedBy returns the messages agent namespace/name got.
func (s *Server) ReceivedBy(agent string) []Received {
	var out []Received
	for _, r := range s.Received() {
		if r.Agent == agent {
			out = append(out, r)
		}
	}
	return out
}

// Sessions returns the sessions created, in order.
func (s *Server) Sessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Session(nil), s.sessions...)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.header = r.Header.Clone()
	s.mu.Unlock()
	if tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "); tok != "" || s.opts.Token != "" {
		s.mu.Lock()
		s.tokens = append(s.tokens, tok)
		s.mu.Unlock()
		if s.opts.Token != "" && tok != s.opts.Token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	if r.URL.Path == "/api/sessions" && r.Method == http.MethodPost {
		s.createSession(w, r)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/a2a/")
	parts := strings.SplitN(rest, "/", 3)
	if !ok || len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		http.NotFound(w, r)
		return
	}
	agent := parts[0] + "/" + parts[1]
	sub := ""
	if len(parts) == 3 {
		sub = parts[2]
	}
	s.mu.Lock()
	missing := s.missing[agent]
	s.requests[agent+" *"]++
	s.mu.Unlock()
	switch {
	case missing:
		http.NotFound(w, r)
	case sub == strings.TrimPrefix(a2asrv.WellKnownAgentCardPath, "/") && r.Method == http.MethodGet:
		s.serveCard(w, r, parts[0], parts[1])
	case sub == "" && r.Method == http.MethodPost:
		s.attempts.Add(1)
		if s.failNext.Add(-1) >= 0 {
			http.Error(w, "agent unavailable", http.StatusServiceUnavailable)
			return
		}
		s.failNext.Store(0)
		if s.behavior(agent).Unavailable {
			http.Error(w, "agent unavailable", http.StatusServiceUnavailable)
			return
		}
		if s.opts.RequireV1 && r.Header.Get(a2a.SvcParamVersion) != string(a2a.Version) {
			http.Error(w, "A2A-Version: 1.0 required", http.StatusBadRequest)
			return
		}
		s.count(agent, r)
		s.handler(agent).ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

// count notes the JSON-RPC method of r, leaving its body readable.
func (s *Server) count(agent string, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var rpc struct {
		Method string `json:"method"`
	}
	_ = json.Unmarshal(body, &rpc)
	s.mu.Lock()
	s.requests[agent+" "+rpc.Method]++
	s.mu.Unlock()
}

func (s *Server) card(namespace, name string) *a2a.AgentCard {
	version := a2a.Version
	if s.opts.Legacy {
		version = a2av0.Version
	}
	return &a2a.AgentCard{
		Name:               name,
		Description:        "echo agent " + namespace + "/" + name,
		Version:            "1.0.0",
		DefaultInputModes:  []string{"text"},
		DefaultOutputModes: []string{"text"},
		SupportedInterfaces: []*a2a.AgentInterface{{
			URL: s.AgentURL(namespace, name), ProtocolBinding: a2a.TransportProtocolJSONRPC, ProtocolVersion: version,
		}},
	}
}

func (s *Server) serveCard(w http.ResponseWriter, r *http.Request, namespace, name string) {
	card := s.card(namespace, name)
	if s.opts.Legacy {
		a2asrv.NewAgentCardHandler(a2av0.NewStaticAgentCardProducer(card)).ServeHTTP(w, r)
		return
	}
	a2asrv.NewStaticAgentCardHandler(card).ServeHTTP(w, r)
}

func (s *Server) handler(agent string) http.Handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.handlers[agent]; ok {
		return h
	}
	rh := a2asrv.NewHandler(&executor{server: s, agent: agent})
	var h http.Handler
	if s.opts.Legacy {
		h = a2av0.NewJSONRPCHandler(rh)
	} else {
		h = a2asrv.NewJSONRPCHandler(rh)
	}
	s.handlers[agent] = h
	return h
}

func (s *Server) behavior(agent string) Behavior {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.behaviors[agent]; ok {
		return b
	}
	return s.behaviors[""]
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	if s.opts.NoSessions {
		http.NotFound(w, r)
		return
	}
	var req struct {
		Name     string `json:"name"`
		AgentRef string `json:"agent_ref"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.AgentRef == "" {
		http.Error(w, "agent_ref is required", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	sess := Session{ID: fmt.Sprintf("session-%d", len(s.sessions)+1), Name: req.Name, AgentRef: req.AgentRef, UserID: r.Header.Get("X-User-Id")}
	s.sessions = append(s.sessions, sess)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"error": false, "data": map[string]string{"id": sess.ID, "name": sess.Name}})
}

type executor struct {
	server *Server
	agent  string
}

func (e *executor) Execute(ctx context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	rec := Received{Agent: e.agent, ContextID: ec.ContextID, TaskID: string(ec.TaskID), Metadata: ec.Metadata, At: time.Now()}
	if ec.Message != nil {
		rec.MessageID = ec.Message.ID
		rec.Metadata = ec.Message.Metadata
		for _, p := range ec.Message.Parts {
			rec.Text += p.Text()
		}
	}
	if ec.ServiceParams != nil {
		if v, ok := ec.ServiceParams.Get("X-User-Id"); ok && len(v) > 0 {
			rec.UserID = v[0]
		}
		if v, ok := ec.ServiceParams.Get(a2a.SvcParamVersion); ok && len(v) > 0 {
			rec.A2AVersion = v[0]
		}
	}
	e.server.mu.Lock()
	e.server.received = append(e.server.received, rec)
	e.server.mu.Unlock()
	if f := e.server.onCall.Load(); f != nil {
		(*f)(rec)
	}
	b := e.server.behavior(e.agent)
	summary := b.Summary
	if summary == "" {
		summary = "echo: " + rec.Text
	}
	end := b.End
	if end == "" {
		end = a2a.TaskStateCompleted
	}
	return func(yield func(a2a.Event, error) bool) {
		if b.AnswerWithMessage {
			yield(a2a.NewMessage(a2a.MessageRoleAgent, a2a.NewTextPart(summary)), nil)
			return
		}
		if !yield(a2a.NewSubmittedTask(ec, ec.Message), nil) {
			return
		}
		if !yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateWorking, nil), nil) {
			return
		}
		if b.Duration > 0 {
			select {
			case <-time.After(b.Duration):
			case <-ctx.Done():
				yield(nil, ctx.Err())
				return
			}
		}
		if b.Hold != nil {
			select {
			case <-b.Hold:
			case <-ctx.Done():
				yield(nil, ctx.Err())
				return
			}
		}
		yield(a2a.NewStatusUpdateEvent(ec, end, a2a.NewMessageForTask(a2a.MessageRoleAgent, ec, a2a.NewTextPart(summary))), nil)
	}
}

func (e *executor) Cancel(_ context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateCanceled, nil), nil)
	}
}
