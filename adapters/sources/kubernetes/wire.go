package kubernetes

import "github.com/google/wire"

// ProviderSet provides the Kubernetes event source from the manager's cache, a clock with
// tickers (for its scan), an EventMaxAge, a logger, a NamespaceFilter, SourceMetrics, and a
// client.Reader that reads from the API server, not the cache (the manager's API reader), for
// the owners of ReplicaSets and Jobs; and NodeStates (ports.Nodes) from the same cache.
var ProviderSet = wire.NewSet(
	NewMetadataOwners,
	wire.Struct(new(EventSource), "Cache", "Filter", "Clock", "MaxAge", "Log", "Metrics", "Owners"),
	wire.Struct(new(NodeStates), "Cache", "Log"),
)
