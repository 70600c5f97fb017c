// Package a2a hands prompts to Kagent agents over the A2A protocol (github.com/a2aproject/a2a-go/v2)
// and follows the tasks they start.
//
// NewCaller makes the plain caller: agent "namespace/name" lives at
// <kagent-url>/api/a2a/<namespace>/<name>/, its card at .well-known/agent-card.json. A reference
// whose name is not a DNS-1123 subdomain or whose namespace is not a DNS-1123 label is refused
// (ports.ErrPermanent) before any URL is built from it: no "..", "/" or escape of a tenant's
// reaches another path of the Kagent host. Cards in
// A2A 1.0 and in the 0.3 format of older Kagent releases are both understood, and the client
// speaks the version the card offers. Send opens a Kagent session for a firing's first attempt
// (so the investigation shows in Kagent's UI; later attempts continue it) and sends the prompt
// with return-immediately: it returns as soon as the agent accepted the message, never waiting
// for the investigation. GetTask reads how a task is going. Every request carries X-User-Id and,
// for a secured Kagent, the configured CA bundle, bearer token (re-read when its file changes)
// and headers.
//
// Failures are classified for the domain: ports.ErrPermanent (no such agent, refused),
// ports.ErrUncertain (the request may have arrived), ports.ErrTaskNotFound, or plain (safe to
// send again).
//
// WithRetry and WithBreaker decorate any ports.AgentCaller and keep its shape:
// WithBreaker(WithRetry(NewCaller(…))) is what the app wires.
package a2a
