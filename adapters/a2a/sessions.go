package a2a

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/go-logr/logr"

	"github.com/khook-dev/khook/ports"
)

// sessions creates Kagent sessions so that each investigation shows in Kagent's UI: one per
// firing (per idempotency key), so retries of a call continue the same session. Where the
// sessions API is missing or failing, it logs once and calls continue without a session.
type sessions struct {
	base   *url.URL
	http   *http.Client
	log    logr.Logger
	warned atomic.Bool

	mu    sync.Mutex
	byKey map[string]string // idempotency key → session id
}

// maxRememberedSessions bounds byKey; past it the map starts over (a retry after that merely
// opens a second session).
const maxRememberedSessions = 4096

type sessionRequest struct {
	Name     string `json:"name"`
	AgentRef string `json:"agent_ref"`
}

type sessionResponse struct {
	ID   string `json:"id"`
	Data struct {
		ID string `json:"id"`
	} `json:"data"`
}

// forCall returns the session of req's firing, creating it on first use, or "" when no session
// could be made.
func (s *sessions) forCall(ctx context.Context, req ports.AgentRequest) string {
	if id := s.remembered(req.IdempotencyKey); id != "" {
		return id
	}
	id, err := s.post(ctx, req)
	if err != nil {
		if s.warned.CompareAndSwap(false, true) {
			s.log.Info("Kagent sessions API unavailable; calling agents without a session (logged once)", "error", err.Error())
		}
		return ""
	}
	if req.IdempotencyKey != "" {
		s.mu.Lock()
		if s.byKey == nil || len(s.byKey) >= maxRememberedSessions {
			s.byKey = map[string]string{}
		}
		s.byKey[req.IdempotencyKey] = id
		s.mu.Unlock()
	}
	return id
}

func (s *sessions) remembered(key string) string {
	if key == "" {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byKey[key]
}

func (s *sessions) post(ctx context.Context, req ports.AgentRequest) (string, error) {
	body, err := json.Marshal(sessionRequest{
		Name:     fmt.Sprintf("khook: %s on %s (hook %s)", req.EventName, req.ResourceName, req.Hook),
		AgentRef: req.Agent.String(),
	})
	if err != nil {
		return "", fmt.Errorf("encoding session request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base.JoinPath("api", "sessions").String(), bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("building session request: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(hreq)
	if err != nil {
		return "", fmt.Errorf("creating session: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("creating session: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(data))
	}
	var out sessionResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return "", fmt.Errorf("decoding session response: %w", err)
	}
	if out.Data.ID != "" {
		return out.Data.ID, nil
	}
	if out.ID != "" {
		return out.ID, nil
	}
	return "", fmt.Errorf("session response has no id: %s", bytes.TrimSpace(data))
}
