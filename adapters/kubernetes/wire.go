package kubernetes

import (
	"github.com/google/wire"

	"github.com/khook-dev/khook/ports"
)

// ProviderSet provides the Hook side from the manager, a client, an API reader, a passive
// clock, a logger, a ReportingInstance, a HookRegistry, a SilenceRegistry and the status and
// audit metrics.
var ProviderSet = wire.NewSet(
	wire.Struct(new(StatusWriter), "*"),
	wire.Struct(new(InvestigationStore), "*"),
	wire.Bind(new(ports.InvestigationStore), new(*InvestigationStore)),
	wire.Bind(new(ports.HookStatusWriter), new(*StatusWriter)),
	NewAuditRecorder,
	wire.Bind(new(ports.AuditRecorder), new(*AuditRecorder)),
	wire.Struct(new(HookReconciler), "*"),
	wire.Struct(new(SilenceStatusWriter), "*"),
	wire.Bind(new(ports.SilenceCounter), new(*SilenceStatusWriter)),
	wire.Struct(new(SilenceReconciler), "Client", "Silences", "Clock", "Reader"),
)
