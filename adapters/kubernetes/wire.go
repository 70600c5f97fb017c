package kubernetes

import (
	"github.com/google/wire"

	"github.com/khook-dev/khook/ports"
)

// ProviderSet provides the Kubernetes adapters from the manager, a client, a cache, a clock
// (passive, and one with tickers for the event source's scan), a logger, an EventMaxAge, a
// ReportingInstance, a NamespaceFilter and a HookRegistry.
var ProviderSet = wire.NewSet(
	wire.Struct(new(StatusWriter), "*"),
	wire.Struct(new(InvestigationStore), "*"),
	wire.Bind(new(ports.InvestigationStore), new(*InvestigationStore)),
	wire.Bind(new(ports.HookStatusWriter), new(*StatusWriter)),
	NewAuditRecorder,
	wire.Bind(new(ports.AuditRecorder), new(*AuditRecorder)),
	wire.Struct(new(EventSource), "Cache", "Filter", "Clock", "MaxAge", "Log", "Metrics"),
	wire.Struct(new(HookReconciler), "*"),
)
