package alertmanager

import "github.com/google/wire"

// ProviderSet provides the Alertmanager source from a logger.
var ProviderSet = wire.NewSet(New)
