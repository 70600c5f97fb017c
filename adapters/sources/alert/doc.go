// Package alert turns a Prometheus-style alert (labels, annotations, when it started) into a
// khook event, the same way for every source of alerts (Alertmanager's webhook, the Prometheus
// poller): the alert's name is the event's SourceType, its fingerprint part of the dedup key,
// the namespace label its namespace and every label and annotation its metadata.
package alert
