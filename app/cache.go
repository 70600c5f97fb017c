package app

import (
	"sigs.k8s.io/controller-runtime/pkg/cache"

	kubesource "github.com/khook-dev/khook/adapters/sources/kubernetes"
)

// CacheOptions returns the options of the manager's cache that khook runs with: managed
// fields stripped from every object, and the Pods, Events and Nodes its Kubernetes event source
// caches cluster-wide reduced to the fields it reads (kubesource.CacheByObject), a fraction of
// their size. Each adapter package states the cache options of the objects it owns and this is
// where they are composed; the Hook side (package adapters/kubernetes) has none: its Hooks, and
// the Namespaces it reads as metadata, take the defaults. Pass it as ctrl.Options.Cache, adding
// your own settings to it. If your own code reads Pods, Events or Nodes from the same manager's
// cache, leave ByObject out (or give those kinds your own transform): it would find them
// stripped of everything khook does not read.
func CacheOptions() cache.Options {
	return cache.Options{DefaultTransform: cache.TransformStripManagedFields(), ByObject: kubesource.CacheByObject()}
}
