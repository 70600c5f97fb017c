package kubernetes

import "github.com/google/wire"

// ProviderSet provides the Kubernetes event source from the manager's cache, a clock with
// tickers (for its scan), an EventMaxAge, a logger, a NamespaceFilter, SourceMetrics, and a
// client.Reader that reads from the API server, not the cache (the manager's API reader), for
// the owners of ReplicaSets and Jobs.
var ProviderSet = wire.NewSet(
	NewMetadataOwners,
	wire.Struct(new(EventSource), "Cache", "Filter", "Clock", "MaxAge", "Log", "Metrics", "Owners"),
)
