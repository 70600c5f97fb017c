package ports

import (
	"context"

	"github.com/khook-dev/khook/domain/event"
)

// EventSink is what a source delivers into.
type EventSink interface {
	// Handle takes one event: trouble, or its end (event.Event.Resolution). It may wait briefly
	// while khook is busy, and returns at once when ctx is done.
	Handle(ctx context.Context, e event.Event)
}

// SourceInfo describes an event source.
type SourceInfo struct {
	// Name identifies the source in configuration, logs, metrics and event.Event.Source.
	Name string
	// Version of the source's implementation, for logs and plugin checks.
	Version string
	// EventTypes lists the event types the source can produce; Hooks may use them.
	EventTypes []event.Type
	// InternalTypes names, in the source's own words, the kinds of event it knows (the
	// design's SupportedEventTypes(): Kubernetes' "PodRestart", Prometheus' "PrometheusAlert"),
	// each with the event type it gives events of that kind. An event mapping names one in
	// internalType to translate every event of that kind. Optional; a kind whose type is not
	// in EventTypes is one the source knows but, as configured, does not report.
	InternalTypes []InternalType
	// NamedEvents says that the source's events carry a name of their own in
	// event.Event.SourceType (an alert's name), which event mappings may name in internalType
	// too. A source that lists InternalTypes and leaves NamedEvents false has no other names:
	// a mapping naming neither one of its InternalTypes nor one of its EventTypes is refused.
	NamedEvents bool
}

// InternalType is one kind of event in a source's own words.
type InternalType struct {
	// Name is the source's name for the kind, such as "OOMKill": free-form, non-empty.
	Name string
	// Type is the event type the source gives events of this kind, such as "oom-kill".
	Type event.Type
}

// Settings are a source's settings, as its entry in the event-watcher configuration gives them
// (environment variables already expanded); nil when there are none.
type Settings map[string]any

// EventSource produces events. The router calls Init once, then Watch, again after a failure
// (with backoff), and Stop once at shutdown.
type EventSource interface {
	// Info names the source and the event types it provides. It is called before Init.
	Info() SourceInfo
	// Init configures the source; an error names the setting that is wrong.
	Init(ctx context.Context, settings Settings) error
	// Watch delivers events to sink until ctx is done (then it returns nil) or the source fails
	// (then it returns why). It calls running once it is delivering: khook is ready only when
	// every enabled source is.
	Watch(ctx context.Context, sink EventSink, running func()) error
	// Stop releases what Init acquired.
	Stop(ctx context.Context) error
}
