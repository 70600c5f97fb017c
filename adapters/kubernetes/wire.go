package kubernetes

import (
	"github.com/google/wire"

	"github.com/khook-dev/khook/ports"
)

// ProviderSet provides the Kubernetes adapters from a client, a cache, an event recorder, a
// clock (passive, and one with tickers for the event source's scan), a logger, an EventMaxAge,
// a NamespaceFilter and a HookRegistry.
var ProviderSet = wire.NewSet(
	wire.Struct(new(StatusWriter), "*"),
	wire.Bind(new(ports.HookStatusWriter), new(*StatusWriter)),
	wire.Struct(new(AuditRecorder), "*"),
	wire.Bind(new(ports.AuditRecorder), new(*AuditRecorder)),
	wire.Struct(new(EventSource), "Cache", "Filter", "Clock", "MaxAge", "Log"),
	wire.Struct(new(HookReconciler), "*"),
)
