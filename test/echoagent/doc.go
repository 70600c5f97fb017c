// Package echoagent is a small Kagent look-alike for tests and `make demo`: a real A2A server
// (a2asrv from the a2a-go SDK) on a loopback port that serves any agent at
// /api/a2a/<namespace>/<name>/ with its card at .well-known/agent-card.json, and Kagent's
// POST /api/sessions. Every agent answers with a completed task echoing the prompt. It records
// every message, session and attempted call so tests can assert on what an agent received, and
// it can be told to fail calls, to be slow, or to speak the 0.3 protocol of older Kagent releases.
package echoagent
