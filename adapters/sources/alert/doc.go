// Package alert turns a Prometheus-style alert (labels, annotations, when it started) into a
// khook event, the same way for every source of alerts (Alertmanager's webhook, the Prometheus
// poller): the alert's name is the event's SourceType, its fingerprint part of the dedup key,
// the namespace label its namespace and its labels and annotations its metadata. What an alert
// carries is bounded before khook keeps it (64 labels and annotations, 8 KiB of them, values
// cut, the names prompts need kept first), and a fingerprint too long for the Hook CRD is
// replaced by its SHA-256.
package alert
