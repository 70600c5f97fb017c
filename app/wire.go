//go:build wireinject

package app

import (
	"context"

	"github.com/google/wire"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/khook-dev/khook/adapters/a2a"
	"github.com/khook-dev/khook/adapters/alertmanager"
	"github.com/khook-dev/khook/adapters/kubernetes"
	"github.com/khook-dev/khook/adapters/metrics"
	"github.com/khook-dev/khook/adapters/plugin"
	"github.com/khook-dev/khook/adapters/prometheus"
	"github.com/khook-dev/khook/adapters/sources"
	kubesource "github.com/khook-dev/khook/adapters/sources/kubernetes"
	"github.com/khook-dev/khook/domain/matching"
	"github.com/khook-dev/khook/domain/pipeline"
)

// managerSet reads what khook needs from the controller-runtime manager.
var managerSet = wire.NewSet(provideClient, provideCache, provideAPIReader, provideLogger)

// optionsSet turns Options into each part's configuration.
var optionsSet = wire.NewSet(provideClock, provideStoreClock, provideTickerClock, provideReportingInstance, provideA2AConfig, provideRetryPolicy,
	provideBreakerSettings, provideEventMaxAge, provideMetricsOptions)

// domainSet builds the pure core.
var domainSet = wire.NewSet(
	provideIndex, provideStore, provideRenderer, providePipeline,
	wire.Bind(new(kubesource.NamespaceFilter), new(*matching.Index)),
	wire.Bind(new(kubernetes.HookRegistry), new(*pipeline.Pipeline)),
	provideSilences, wire.Bind(new(kubernetes.SilenceRegistry), new(*pipeline.Pipeline)),
)

// sourcesSet builds the event source router: the built-in sources, ExtraSources and plugins.
var sourcesSet = wire.NewSet(
	provideRegistry, provideSourcesConfig,
	sources.ProviderSet, kubesource.ProviderSet, alertmanager.ProviderSet, prometheus.ProviderSet, plugin.ProviderSet,
)

// metricsSet gives every adapter that counts something the process's metrics.
var metricsSet = wire.NewSet(
	metrics.ProviderSet,
	wire.Bind(new(kubernetes.StatusMetrics), new(*metrics.Metrics)),
	wire.Bind(new(kubernetes.AuditMetrics), new(*metrics.Metrics)),
	wire.Bind(new(kubesource.SourceMetrics), new(*metrics.Metrics)),
	wire.Bind(new(sources.Metrics), new(*metrics.Metrics)),
	wire.Bind(new(alertmanager.Metrics), new(*metrics.Metrics)),
)

// buildKhook is the one place where khook is put together. ctx bounds the sources' Init.
func buildKhook(ctx context.Context, mgr ctrl.Manager, opts Options) (*Khook, error) {
	wire.Build(
		managerSet,
		optionsSet,
		domainSet,
		sourcesSet,
		a2a.ProviderSet,
		kubernetes.ProviderSet,
		metricsSet,
		wire.Struct(new(Khook), "Pipeline", "Reconciler", "Silences", "Sources", "Nodes", "Log", "Options", "storeClock"),
	)
	return nil, nil
}
