package metrics

import (
	"github.com/google/wire"

	"github.com/khook-dev/khook/adapters/kubernetes"
	"github.com/khook-dev/khook/ports"
)

// ProviderSet provides the process's metrics as ports.Metrics and as the adapters' counters.
var ProviderSet = wire.NewSet(New,
	wire.Bind(new(ports.Metrics), new(*Metrics)),
	wire.Bind(new(kubernetes.StatusMetrics), new(*Metrics)),
	wire.Bind(new(kubernetes.AuditMetrics), new(*Metrics)),
)
