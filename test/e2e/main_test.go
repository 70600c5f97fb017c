package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/adapters/sources/kubernetes"
	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/app"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/matching"
	"github.com/khook-dev/khook/ports"
	"github.com/khook-dev/khook/test/controlplane"
)

// cp is the package's control plane, shared by its tests, with khook's CRDs.
var cp *controlplane.ControlPlane

// scheme knows client-go's types and khook's.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := v1alpha2.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

func TestMain(m *testing.M) {
	if os.Getenv(controlplane.AssetsEnv) == "" {
		fmt.Fprintln(os.Stderr, controlplane.ErrNoAssets)
		os.Exit(1)
	}
	started := time.Now()
	var err error
	cp, err = controlplane.New(controlplane.Options{CRDPaths: []string{filepath.Join("..", "..", "charts", "khook", "crds")}, Scheme: scheme})
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the control plane: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "e2e: control plane started in %s\n", time.Since(started).Round(100*time.Millisecond))
	code := m.Run()
	if err := cp.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the control plane: %v\n", err)
		code = 1
	}
	os.Exit(code)
}

// timeout bounds every wait on the control plane: generous, the machine may be busy.
const timeout = 2 * time.Minute

// recordingSink keeps what the source delivers.
type recordingSink struct {
	mu     sync.Mutex
	events []event.Event
}

func (s *recordingSink) Handle(_ context.Context, e event.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

// matching returns what was delivered that keep says to keep, in order.
func (s *recordingSink) matching(keep func(event.Event) bool) []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []event.Event
	for _, e := range s.events {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// running is the Kubernetes event source and the Node states, running as khook runs them.
type running struct {
	sink  *recordingSink
	nodes *kubernetes.NodeStates
}

// startSource runs the Kubernetes source with settings, for Hooks in namespace ns, and
// NodeStates, on a cache with khook's options, until the test ends.
func startSource(t *testing.T, ns string, settings ports.Settings) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts := app.CacheOptions()
	opts.Scheme = cp.Client().Scheme()
	c, err := cache.New(cp.RESTConfig(), opts)
	if err != nil {
		t.Fatalf("creating the cache: %v", err)
	}
	apiReader, err := client.New(cp.RESTConfig(), client.Options{Scheme: opts.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	index := matching.NewIndex()
	index.Upsert(hook.Hook{Ref: hook.Ref{Namespace: ns, Name: "all"}})
	r := &running{sink: &recordingSink{}, nodes: &kubernetes.NodeStates{Cache: c, Log: testr.New(t)}}
	src := &kubernetes.EventSource{Cache: c, Filter: index, Clock: clock.RealClock{}, MaxAge: kubernetes.EventMaxAge(10 * time.Minute),
		Log: testr.New(t), Owners: kubernetes.NewMetadataOwners(apiReader)}
	if err := src.Init(ctx, settings); err != nil {
		t.Fatalf("Init: %v", err)
	}
	done := map[string]chan error{"the cache": make(chan error, 1), "NodeStates": make(chan error, 1), "Watch": make(chan error, 1)}
	go func() { done["the cache"] <- c.Start(ctx) }()
	go func() { done["NodeStates"] <- r.nodes.Start(ctx) }()
	up := make(chan struct{})
	go func() { done["Watch"] <- src.Watch(ctx, r.sink, func() { close(up) }) }()
	t.Cleanup(func() {
		cancel()
		for what, ch := range done {
			select {
			case err := <-ch:
				if err != nil {
					t.Errorf("%s stopped with %v", what, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("%s did not stop after its context ended", what)
			}
		}
	})
	select {
	case <-up:
	case err := <-done["Watch"]:
		t.Fatalf("Watch returned before running: %v", err)
	case <-time.After(timeout):
		t.Fatal("the source did not start running")
	}
	return r
}
