// Package echoagent is a small Kagent look-alike for tests and `make demo`: a real A2A server
// (a2asrv from the a2a-go SDK) on a loopback port that serves any agent at
// /api/a2a/<namespace>/<name>/ with its card at .well-known/agent-card.json, and Kagent's
// POST /api/sessions.
//
// Each message starts a task that works for a while (SetBehavior: how long, which end state,
// which summary) and is answered at once to a sender asking for return-immediately, as Kagent
// does; GetTask reports its progress. It records every message, session, JSON-RPC request and
// bearer token, so tests can assert on what an agent received, and it can be told to fail
// requests, to forget an agent (404 card), to require a token, to serve TLS, or to speak the 0.3
// protocol of older Kagent releases.
package echoagent
