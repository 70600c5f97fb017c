// Package alertmanager is the built-in event source "alertmanager": an HTTP receiver for
// Alertmanager's webhook (payload version 4) at /webhook. A firing alert becomes an event (type
// alert-firing unless a mapping or the eventType setting says otherwise) keyed by the alert's
// fingerprint; a resolved alert resolves it at once. See docs/sources.md.
package alertmanager
