// Package prometheus is the built-in event source "prometheus": it polls a Prometheus
// server's /api/v1/alerts. A firing alert (not a pending one) is an event, of type
// prometheus-alert unless the eventType setting or a mapping says otherwise, keyed by a stable
// fingerprint of its labels; an alert that is no longer listed resolves. See docs/sources.md.
//
// (The Prometheus metrics khook exports are in package adapters/metrics.)
package prometheus
