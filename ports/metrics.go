package ports

import (
	"time"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
)

// Metrics counts what the pipeline does.
type Metrics interface {
	EventObserved(t event.Type, outcome string)
	AgentCallFinished(agent hook.AgentRef, result string, took time.Duration)
	CallsInFlight(delta int)
}
