//go:build wireinject

package app

import (
	"github.com/google/wire"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/khook-dev/khook/adapters/a2a"
	"github.com/khook-dev/khook/adapters/kubernetes"
	"github.com/khook-dev/khook/adapters/metrics"
	"github.com/khook-dev/khook/domain/matching"
	"github.com/khook-dev/khook/domain/pipeline"
)

// managerSet reads what khook needs from the controller-runtime manager.
var managerSet = wire.NewSet(provideClient, provideCache, provideAPIReader, provideLogger)

// optionsSet turns Options into each part's configuration.
var optionsSet = wire.NewSet(provideClock, provideTickerClock, provideReportingInstance, provideA2AConfig, provideRetryPolicy,
	provideBreakerSettings, provideEventMaxAge)

// domainSet builds the pure core.
var domainSet = wire.NewSet(
	provideIndex, provideStore, provideRenderer, providePipeline, provideSources,
	wire.Bind(new(kubernetes.NamespaceFilter), new(*matching.Index)),
	wire.Bind(new(kubernetes.HookRegistry), new(*pipeline.Pipeline)),
)

// buildKhook is the one place where khook is put together.
func buildKhook(mgr ctrl.Manager, opts Options) (*Khook, error) {
	wire.Build(
		managerSet,
		optionsSet,
		domainSet,
		a2a.ProviderSet,
		kubernetes.ProviderSet,
		metrics.ProviderSet,
		wire.Struct(new(Khook), "Pipeline", "Reconciler", "Sources", "Log", "Options"),
	)
	return nil, nil
}
