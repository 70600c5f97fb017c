package sources_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/khook-dev/khook/adapters/sources"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

// counter is a sink that only counts.
type counter struct{ n atomic.Int64 }

func (c *counter) Handle(context.Context, event.Event) { c.n.Add(1) }

// captured is a source that hands its sink to the benchmark.
type captured struct {
	*fakeSource
	sink chan ports.EventSink
}

// The hot path: a mapped event, from a source through the router to the pipeline. It should
// allocate nothing.
func BenchmarkRouterDeliversAMappedEvent(b *testing.B) {
	src := &captured{fakeSource: &fakeSource{name: "alertmanager", types: []event.Type{"alert-firing"}}, sink: make(chan ports.EventSink, 1)}
	src.behave = func(_ int, ctx context.Context, sink ports.EventSink, running func()) error {
		src.sink <- sink
		running()
		<-ctx.Done()
		return nil
	}
	reg := sources.NewRegistry()
	if err := reg.Register(src, true); err != nil {
		b.Fatal(err)
	}
	cfg := &sources.Config{Mappings: []sources.Mapping{{EventSource: "alertmanager", EventType: "pod-crash-alert",
		InternalType: "KubePodCrashLooping", Severity: "critical", Tags: map[string]string{"team": "platform"}}}}
	r, err := sources.NewRouter(context.Background(), reg, cfg, nil, nil, logr.Discard())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &counter{}
	go func() { _ = r.Run(ctx, out) }()
	var sink ports.EventSink
	select {
	case sink = <-src.sink:
	case <-time.After(10 * time.Second):
		b.Fatal("the source never started")
	}
	e := event.Event{Type: "alert-firing", SourceType: "KubePodCrashLooping", Namespace: "shop", ResourceName: "api-0", Fingerprint: "0123456789abcdef"}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		sink.Handle(ctx, e)
	}
	for deadline := time.Now().Add(time.Minute); out.n.Load() < int64(b.N); { // wait for the workers to hand everything on
		if time.Now().After(deadline) {
			b.Fatalf("the router handed on %d of %d events", out.n.Load(), b.N)
		}
		runtime.Gosched()
	}
}
