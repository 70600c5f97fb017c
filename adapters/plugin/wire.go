package plugin

import (
	"github.com/google/wire"

	"github.com/khook-dev/khook/adapters/sources"
)

// ProviderSet provides the Loader as the router's sources.PluginLoader, from a logger.
var ProviderSet = wire.NewSet(NewLoader, wire.Bind(new(sources.PluginLoader), new(*Loader)))
