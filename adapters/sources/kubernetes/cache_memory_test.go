package kubernetes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/adapters/sources/kubernetes"
)

// The heap an informer holds per Pod and per Event, with managed fields stripped only (khook
// before the transforms) and with khook's transforms (CacheByObject). The objects are made by
// the API server: Pods created by "kube-controller-manager" and their status written by
// "kubelet" through the status subresource, Events written by the kubelet and the scheduler,
// each with the managed fields the server records. A cache like the manager's (one namespace,
// so that nothing else is listed) syncs them, and the live heap after GC is compared with the
// heap before it started. It takes minutes and a lot of the API server, so it runs only when
// asked:
//
//	KHOOK_INFORMER_MEMORY=1 KUBEBUILDER_ASSETS=$(./hack/envtest.sh) \
//	  go test -run TestInformerMemory -v -timeout 30m ./adapters/kubernetes/
//
// KHOOK_INFORMER_MEMORY_OBJECTS sets how many of each (default 10000).

const memoryObjectsDefault = 10000

func TestInformerMemory(t *testing.T) {
	if os.Getenv("KHOOK_INFORMER_MEMORY") == "" {
		t.Skip("set KHOOK_INFORMER_MEMORY=1 to measure the informers' heap (minutes; see cache_memory_test.go)")
	}
	n := memoryObjectsDefault
	if v := os.Getenv("KHOOK_INFORMER_MEMORY_OBJECTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			t.Fatalf("KHOOK_INFORMER_MEMORY_OBJECTS=%q is not a positive number", v)
		}
	}
	cfg := rest.CopyConfig(restConfig)
	cfg.QPS = -1 // no client-side rate limit: the API server is the bottleneck
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Hour)
	pods, read, ignored := newNamespace(t), newNamespace(t), newNamespace(t)

	began := time.Now()
	parallel(t, n, func(i int) error {
		pod := realisticPodSpec(pods, i)
		if err := c.Create(context.Background(), pod, client.FieldOwner("kube-controller-manager")); err != nil {
			return fmt.Errorf("creating pod %d: %w", i, err)
		}
		pod.Status = realisticPodStatus(i, start)
		if err := c.Status().Update(context.Background(), pod, client.FieldOwner("kubelet")); err != nil {
			return fmt.Errorf("writing the status of pod %d: %w", i, err)
		}
		return nil
	})
	// Events khook reads (probe failures, crash-loop back-offs) and Events it ignores
	// (scheduled, pulled, created, started), half and half of each kind.
	parallel(t, 2*n, func(i int) error {
		j := i / 2
		ev := realisticEvents(read, j, start)[4+j%2]
		if i%2 == 1 {
			ev = realisticEvents(ignored, j, start)[j%4]
		}
		if err := c.Create(context.Background(), ev, client.FieldOwner("kubelet")); err != nil {
			return fmt.Errorf("creating event %d: %w", i, err)
		}
		return nil
	})
	t.Logf("created %d pods (status written) and %d Events in %s", n, 2*n, time.Since(began).Round(time.Second))
	for _, one := range []struct {
		what string
		ns   string
		obj  client.Object
	}{{"a pod", pods, &corev1.Pod{}}, {"an Event khook reads", read, &eventsv1.Event{}}, {"an Event khook ignores", ignored, &eventsv1.Event{}}} {
		total, managed := jsonSize(t, c, one.ns, one.obj)
		t.Logf("%s as the API server returns it: %d bytes of JSON, %d of them managed fields", one.what, total, managed)
	}
	configs := []struct {
		name     string
		byObject map[client.Object]cache.ByObject
	}{
		{"managed fields stripped (before)", nil},
		{"khook's transforms (after)", kubernetes.CacheByObject()},
	}
	kinds := []struct {
		name string
		ns   string
		obj  client.Object
	}{
		{"Pod", pods, &corev1.Pod{}},
		{"Event khook reads", read, &eventsv1.Event{}},
		{"Event khook ignores", ignored, &eventsv1.Event{}},
	}
	// A first sync, not counted, so that what the first informer of the process sets up once
	// (type and conversion caches, connections) is not counted against the first figure.
	informerHeap(t, pods, &corev1.Pod{}, nil, n)
	t.Logf("heap an informer holds per object, and per 10,000, with %d objects (live heap after GC; %s, %s):", n, runtime.Version(), runtime.GOARCH)
	t.Logf("%-20s | %-32s | %-27s | %s", "kind", configs[0].name, configs[1].name, "saved")
	for _, k := range kinds {
		var per [2]float64
		for i, conf := range configs {
			per[i] = informerHeap(t, k.ns, k.obj, conf.byObject, n)
		}
		t.Logf("%-20s | %6.0f B/object, %6.1f MB/10k | %6.0f B/object, %5.1f MB/10k | %3.0f%%",
			k.name, per[0], per[0]*1e4/1e6, per[1], per[1]*1e4/1e6, 100*(1-per[1]/per[0]))
	}
}

// informerHeap starts a cache of namespace ns with the given per-object configuration (managed
// fields stripped from everything else), syncs the informer of obj's kind, and returns the live
// heap it added, per object.
func informerHeap(t *testing.T, ns string, obj client.Object, byObject map[client.Object]cache.ByObject, want int) float64 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := liveHeap()
	c, err := cache.New(restConfig, cache.Options{Scheme: scheme, DefaultNamespaces: map[string]cache.Config{ns: {}},
		DefaultTransform: cache.TransformStripManagedFields(), ByObject: byObject})
	if err != nil {
		t.Fatalf("creating the cache: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	if _, err := c.GetInformer(ctx, obj); err != nil {
		t.Fatalf("getting the informer: %v", err)
	}
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("the cache did not sync")
	}
	got := cachedCount(t, ctx, c, obj)
	if got != want {
		t.Fatalf("the cache holds %d objects, want %d", got, want)
	}
	after := liveHeap()
	runtime.KeepAlive(c)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("the cache stopped with %v", err)
	}
	return float64(after-before) / float64(want)
}

// cachedCount is how many objects of obj's kind the cache holds.
func cachedCount(t *testing.T, ctx context.Context, c cache.Cache, obj client.Object) int {
	t.Helper()
	switch obj.(type) {
	case *corev1.Pod:
		var l corev1.PodList
		if err := c.List(ctx, &l); err != nil {
			t.Fatal(err)
		}
		return len(l.Items)
	default:
		var l eventsv1.EventList
		if err := c.List(ctx, &l); err != nil {
			t.Fatal(err)
		}
		return len(l.Items)
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	var m runtime.MemStats
	for range 2 {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// jsonSize reads one object of obj's kind in ns from the API server and says how large it is
// as JSON, and how much of that its managed fields are.
func jsonSize(t *testing.T, c client.Client, ns string, obj client.Object) (total, managed int) {
	t.Helper()
	var list client.ObjectList = &corev1.PodList{}
	if _, ok := obj.(*eventsv1.Event); ok {
		list = &eventsv1.EventList{}
	}
	if err := c.List(context.Background(), list, client.InNamespace(ns), client.Limit(1)); err != nil {
		t.Fatal(err)
	}
	var first client.Object
	switch l := list.(type) {
	case *corev1.PodList:
		first = &l.Items[0]
	case *eventsv1.EventList:
		first = &l.Items[0]
	}
	b, err := json.Marshal(first)
	if err != nil {
		t.Fatal(err)
	}
	m, err := json.Marshal(first.GetManagedFields())
	if err != nil {
		t.Fatal(err)
	}
	return len(b), len(m)
}

// parallel runs do(0) … do(n-1) on a few goroutines and fails the test on the first error.
func parallel(t *testing.T, n int, do func(i int) error) {
	t.Helper()
	const workers = 16
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		next  = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := do(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}
