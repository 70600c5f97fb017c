// Package alertmanager is the built-in event source "alertmanager": an HTTP receiver for
// Alertmanager's webhook (payload version 4) at /webhook. A firing alert becomes an event (type
// alert-firing unless a mapping or the eventType setting says otherwise) keyed by the alert's
// fingerprint; a resolved alert resolves it at once.
//
// Whoever reaches the port is a stranger until the bearer token says otherwise, so what the
// server holds is bounded before the token is checked: connections (maxConnections, the rest
// wait in the kernel's accept queue), headers (maxHeaderBytes), idle time (idleTimeout); and
// after it: bodies read at once (maxConcurrentPosts, each within bodyReadTimeout and at most
// maxBodyBytes), alerts per post (maxAlertsPerPost, 413) and per minute (maxAlertsPerMinute, a
// token bucket; 503 with Retry-After, which Alertmanager retries). Every refusal is counted by
// reason. See docs/sources.md.
package alertmanager
