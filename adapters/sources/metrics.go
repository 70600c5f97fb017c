package sources

// Metrics is what the router reports about its sources; the app connects it to Prometheus.
type Metrics interface {
	// SourceUp says whether a source is delivering events (it called running and has not failed
	// since).
	SourceUp(name string, up bool)
	// SourceRestarted counts a restart of a source after a failure.
	SourceRestarted(name string)
}

// NoMetrics reports nothing.
type NoMetrics struct{}

func (NoMetrics) SourceUp(string, bool)  {}
func (NoMetrics) SourceRestarted(string) {}

var _ Metrics = NoMetrics{}
