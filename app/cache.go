package app

import (
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/khook-dev/khook/adapters/kubernetes"
)

// CacheOptions returns the options of the manager's cache that khook runs with: managed
// fields stripped from every object, and the Pods and Events it caches cluster-wide reduced to
// the fields it reads (kubernetes.CacheByObject), a fraction of their size. Pass it as
// ctrl.Options.Cache, adding your own settings to it. If your own code reads Pods or Events
// from the same manager's cache, leave ByObject out (or give those kinds your own transform):
// it would find them stripped of everything khook does not read.
func CacheOptions() cache.Options {
	return cache.Options{DefaultTransform: cache.TransformStripManagedFields(), ByObject: kubernetes.CacheByObject()}
}
