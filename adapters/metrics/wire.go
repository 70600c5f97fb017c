package metrics

import (
	"github.com/google/wire"

	"github.com/khook-dev/khook/ports"
)

// ProviderSet provides the process's metrics, as ports.Metrics too. The app binds the adapters'
// own counters (status writes, audit, sources) to *Metrics where it wires them.
var ProviderSet = wire.NewSet(New, wire.Bind(new(ports.Metrics), new(*Metrics)))
