package kubernetes

import (
	"github.com/google/wire"

	"github.com/khook-dev/khook/ports"
)

// ProviderSet provides the Kubernetes adapters from a client, a cache, an event recorder, a
// clock, a logger, an EventMaxAge, a NamespaceFilter and a HookRegistry.
var ProviderSet = wire.NewSet(
	wire.Struct(new(StatusWriter), "*"),
	wire.Bind(new(ports.HookStatusWriter), new(*StatusWriter)),
	wire.Struct(new(AuditRecorder), "*"),
	wire.Bind(new(ports.AuditRecorder), new(*AuditRecorder)),
	wire.Struct(new(EventSource), "*"),
	wire.Struct(new(HookReconciler), "*"),
)
