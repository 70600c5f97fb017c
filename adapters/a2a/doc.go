// Package a2a calls Kagent agents over the A2A protocol (github.com/a2aproject/a2a-go/v2).
//
// NewCaller makes the plain caller: agent "namespace/name" lives at
// <kagent-url>/api/a2a/<namespace>/<name>/, its card at .well-known/agent-card.json. Cards in
// A2A 1.0 and in the 0.3 format of older Kagent releases are both understood, and the client
// speaks the version the card offers. Each call creates a Kagent session first (so the
// investigation shows in Kagent's UI), then sends the prompt as a blocking message in that
// session, with the event context as metadata and the X-User-Id header on every request.
//
// WithRetry and WithBreaker decorate any ports.AgentCaller and keep its shape:
// WithBreaker(WithRetry(NewCaller(…))) is what the app wires.
package a2a
