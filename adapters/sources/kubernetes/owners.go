package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/domain/event"
)

// What runs a Pod. A Pod names its direct controller (pods.go, withSubject), but a ReplicaSet
// is run by a Deployment, and a Job by a CronJob: those are the workloads people name, and a
// rollout replaces the ReplicaSet while the Deployment stays. The tracker follows a Pod's
// ReplicaSet or Job one step up, to its own controller, through workloads below.

// OwnerLookup reads the controller of an object that controls a Pod.
type OwnerLookup interface {
	// ControllerOf reads the object ref names (its apiVersion, kind and name) in namespace and
	// returns its UID and its controller reference (nil when it has none). When the object does
	// not exist the error satisfies apierrors.IsNotFound.
	ControllerOf(ctx context.Context, namespace string, ref metav1.OwnerReference) (types.UID, *metav1.OwnerReference, error)
}

// MetadataOwners is the OwnerLookup of a running khook: one GET of the object's metadata
// (PartialObjectMetadata, no spec or status) from the API server, through Reader, which must
// not be the manager's cache (app passes mgr.GetAPIReader()).
//
// Why a GET and not an informer: an informer on ReplicaSets would hold every ReplicaSet of the
// cluster (ten old ones per Deployment by default, revisionHistoryLimit), even as metadata, and
// a cache Get of a kind it does not hold yet would start one (a second, full cache). Only the
// owner of a Pod in trouble is looked up, and workloads keeps what it found, so the cost
// follows the trouble, not the size of the cluster. It needs get (not list or watch) on
// replicasets (apps) and jobs (batch).
type MetadataOwners struct {
	Reader client.Reader
}

var _ OwnerLookup = MetadataOwners{}

// NewMetadataOwners is MetadataOwners of reader, as an OwnerLookup.
func NewMetadataOwners(reader client.Reader) OwnerLookup { return MetadataOwners{Reader: reader} }

// ControllerOf implements OwnerLookup.
func (m MetadataOwners) ControllerOf(ctx context.Context, namespace string, ref metav1.OwnerReference) (types.UID, *metav1.OwnerReference, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return "", nil, fmt.Errorf("reading the owner %s %s/%s: apiVersion %q: %w", ref.Kind, namespace, ref.Name, ref.APIVersion, err)
	}
	obj := &metav1.PartialObjectMetadata{}
	obj.SetGroupVersionKind(gv.WithKind(ref.Kind))
	if err := m.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, obj); err != nil {
		return "", nil, fmt.Errorf("reading the owner %s %s/%s: %w", ref.Kind, namespace, ref.Name, err)
	}
	return obj.UID, metav1.GetControllerOf(obj), nil
}

// How workloads keeps what it found.
const (
	// OwnerCacheSize bounds the owners kept: about 200 bytes each, so at most about 1 MB.
	// The least recently used goes first.
	OwnerCacheSize = 4096
	// OwnerTTL: an owner found is kept this long. A ReplicaSet's or a Job's controller almost
	// never changes (an orphaned ReplicaSet adopted by another Deployment is the exception).
	OwnerTTL = time.Hour
	// OwnerGoneTTL: a ReplicaSet or Job that is gone (or was replaced by another of the same
	// name) is taken as the workload itself, and not looked up again, for this long.
	OwnerGoneTTL = time.Minute
	// OwnerLookupTimeout bounds one lookup: the source's loop waits for it.
	OwnerLookupTimeout = 2 * time.Second
	// OwnerLookupPause: after a lookup failed (the API server slow or down, no permission),
	// none is tried for this long, so that the loop waits for at most one timeout per pause.
	OwnerLookupPause = 30 * time.Second
)

// workloads follows a Pod's direct controller one step up when it is a ReplicaSet (apps) or a
// Job (batch): to the ReplicaSet's or Job's own controller, whatever its kind (a Deployment, a
// CronJob, an Argo Rollout, a custom controller), or the ReplicaSet or Job itself when it has
// none. Any other controller (a StatefulSet, a DaemonSet, a custom kind) is the workload as it
// is. What it finds is kept by the direct controller's UID (so a ReplicaSet replaced by another
// of the same name is looked up afresh) in an LRU cache of OwnerCacheSize entries that expire.
// A lookup that fails or takes longer than OwnerLookupTimeout gives the ReplicaSet or Job
// itself, logged at debug level. It is used by the source's loop only: not safe for concurrent
// use (the cache itself is).
type workloads struct {
	lookup  OwnerLookup
	clock   clock.PassiveClock
	log     logr.Logger
	timeout time.Duration
	cache   *utilcache.LRUExpireCache
	// pausedUntil: no lookup before then, after one failed.
	pausedUntil time.Time
}

func newWorkloads(lookup OwnerLookup, clk clock.PassiveClock, log logr.Logger) *workloads {
	return &workloads{lookup: lookup, clock: clk, log: log, timeout: OwnerLookupTimeout,
		cache: utilcache.NewLRUExpireCacheWithClock(OwnerCacheSize, clk)}
}

// climbs says whether the workload of a Pod controlled by ref is ref's own controller: ref is
// a ReplicaSet of group apps or a Job of group batch.
func climbs(ref *metav1.OwnerReference) bool {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return false
	}
	return gv.Group == "apps" && ref.Kind == "ReplicaSet" || gv.Group == "batch" && ref.Kind == "Job"
}

// of returns the workload of a Pod of namespace controlled by ref (nil: none, the zero workload).
func (w *workloads) of(ctx context.Context, namespace string, ref *metav1.OwnerReference) event.Workload {
	if ref == nil {
		return event.Workload{}
	}
	direct := event.Workload{Kind: ref.Kind, Name: ref.Name}
	if w == nil || w.lookup == nil || !climbs(ref) {
		return direct
	}
	if v, ok := w.cache.Get(ref.UID); ok {
		return v.(event.Workload)
	}
	now := w.clock.Now()
	if now.Before(w.pausedUntil) {
		return direct
	}
	lookupCtx, cancel := context.WithTimeout(ctx, w.timeout)
	uid, owner, err := w.lookup.ControllerOf(lookupCtx, namespace, *ref)
	cancel()
	switch {
	case apierrors.IsNotFound(err):
		w.debug("the Pod's controller is gone; it is the workload", namespace, ref, err)
		w.cache.Add(ref.UID, direct, OwnerGoneTTL)
		return direct
	case err != nil:
		if ctx.Err() != nil {
			return direct // shutting down
		}
		w.pausedUntil = now.Add(OwnerLookupPause)
		what := "looking up the owner of the Pod's controller failed"
		if errors.Is(err, context.DeadlineExceeded) {
			what = fmt.Sprintf("looking up the owner of the Pod's controller took longer than %s", w.timeout)
		}
		w.debug(what+"; it is the workload, and no lookup is tried for "+OwnerLookupPause.String(), namespace, ref, err)
		return direct
	case uid != ref.UID:
		w.debug("the Pod's controller was replaced by another of the same name; it is the workload", namespace, ref, nil)
		w.cache.Add(ref.UID, direct, OwnerGoneTTL)
		return direct
	case owner == nil:
		w.cache.Add(ref.UID, direct, OwnerTTL)
		return direct
	}
	found := event.Workload{Kind: owner.Kind, Name: owner.Name}
	w.cache.Add(ref.UID, found, OwnerTTL)
	return found
}

func (w *workloads) debug(msg, namespace string, ref *metav1.OwnerReference, err error) {
	if l := w.log.V(1); l.Enabled() {
		kv := []any{"controller", ref.Kind + " " + namespace + "/" + ref.Name}
		if err != nil {
			kv = append(kv, "error", err.Error())
		}
		l.Info(msg, kv...)
	}
}
