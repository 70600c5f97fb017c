package sources

import "github.com/google/wire"

// ProviderSet provides the Router from a context, a Registry, a *Config, a PluginLoader,
// Metrics and a logger.
var ProviderSet = wire.NewSet(NewRouter)
