package prometheus

import "github.com/google/wire"

// ProviderSet provides the Prometheus alert source from a logger.
var ProviderSet = wire.NewSet(New)
