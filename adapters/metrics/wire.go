package metrics

import (
	"github.com/google/wire"

	"github.com/khook-dev/khook/ports"
)

// ProviderSet provides the process's metrics as ports.Metrics.
var ProviderSet = wire.NewSet(New, wire.Bind(new(ports.Metrics), new(*Metrics)))
