package kubernetes

import "github.com/google/wire"

// ProviderSet provides the Kubernetes event source from the manager's cache, a clock with
// tickers (for its scan), an EventMaxAge, a logger, a NamespaceFilter and SourceMetrics.
var ProviderSet = wire.NewSet(
	wire.Struct(new(EventSource), "Cache", "Filter", "Clock", "MaxAge", "Log", "Metrics"),
)
