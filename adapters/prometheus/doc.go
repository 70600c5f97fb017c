// Package prometheus is the built-in event source "prometheus": it polls a Prometheus
// server's /api/v1/alerts. A firing alert (not a pending one) is an event, of type
// prometheus-alert unless the eventType setting or a mapping says otherwise, keyed by a stable
// fingerprint of its labels; an alert that is no longer listed resolves. The alertLabels
// setting keeps only alerts with one of the label sets it lists. For mappings, every alert is
// of the kind PrometheusAlert and carries its own name (alertname). See docs/sources.md.
//
// (The Prometheus metrics khook exports are in package adapters/metrics.)
package prometheus
