package ports

import (
	"context"

	"github.com/khook-dev/khook/domain/event"
)

// EventSink receives events from a source. Handle must not block for long: the pipeline
// dispatches agent calls asynchronously.
type EventSink interface {
	Handle(ctx context.Context, e event.Event)
}

// EventSource produces events.
type EventSource interface {
	// Name identifies the source in logs and in event.Event.Source.
	Name() string
	// EventTypes lists the event types the source can produce.
	EventTypes() []event.Type
	// Start begins delivering events to sink and returns once it is delivering (or failed to
	// start); delivery stops when ctx is done.
	Start(ctx context.Context, sink EventSink) error
}
