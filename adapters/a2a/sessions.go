package a2a

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"

	"github.com/go-logr/logr"

	"github.com/khook-dev/khook/ports"
)

// sessions opens Kagent sessions so that each investigation shows in Kagent's UI: one per firing
// and agent. The session id is the message's context id, which the ledger keeps, so every
// attempt and a restarted khook continue the same session. Where the sessions API is missing or
// moved (Kagent releases differ), it logs once and messages go without a session.
type sessions struct {
	base   *url.URL
	http   *http.Client
	log    logr.Logger
	warned atomic.Bool
}

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

// open returns a new session for req, or "" when none could be made.
func (s *sessions) open(ctx context.Context, req ports.AgentRequest) string {
	id, err := s.post(ctx, req)
	if err != nil {
		if s.warned.CompareAndSwap(false, true) {
			s.log.Info("Kagent sessions API unavailable; messaging agents without a session (logged once)", "error", err.Error())
		}
		return ""
	}
	return id
}

func (s *sessions) post(ctx context.Context, req ports.AgentRequest) (string, error) {
	body, err := json.Marshal(sessionRequest{
		Name:     fmt.Sprintf("khook: %s on %s (hook %s)", req.EventType, req.ResourceName, req.Hook),
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
