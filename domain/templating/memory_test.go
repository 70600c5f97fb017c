package templating_test

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/templating"
)

// The renderer's memory, measured on the heap. Both bounds are stated in docs/templates.md.
const (
	// retainedBound is what a Renderer may hold once its renders are over, whatever it was given
	// to render: its cache's budget, and room for pooled render states and the cache's map.
	retainedBound = templating.MaxCacheCost + 8<<20
	// renderers is how many goroutines render at once in these tests (as sends to many agents do).
	renderers = 64
	// renderingBound is what the live heap may hold while they render: the cache, MaxHeavyWork
	// heavy compiles or renders of at most maxRenderAlloc each, and what each light render holds
	// (under 16 KiB made and written, with its buffers).
	renderingBound = templating.MaxCacheCost + templating.MaxHeavyWork*maxRenderAlloc + renderers*64<<10 + 8<<20
)

// gcPercent is the GOGC of the renders: the collector counts what is allocated while it marks
// as live, up to about this share of the heap it found before.
const gcPercent = 25

// heapAfterGC is the live heap after two collections.
func heapAfterGC() int {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int(m.HeapAlloc)
}

// peakLiveHeap samples the live heap that each garbage collection finds until stop is called,
// which returns the highest.
func peakLiveHeap() (stop func() int) {
	done, result := make(chan struct{}), make(chan int)
	go func() {
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		peak := 0
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, int(sample[0].Value.Uint64()))
			select {
			case <-done:
				result <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() int { close(done); return <-result }
}

// renderAll renders every prompt for e with renderers goroutines at once and returns the peak
// live heap the collections meanwhile found.
func renderAll(t *testing.T, r *templating.Renderer, prompts []string, e event.Event) (peak int) {
	t.Helper()
	defer debug.SetGCPercent(debug.SetGCPercent(gcPercent))
	stop := peakLiveHeap()
	work := make(chan string)
	var wg sync.WaitGroup
	for range renderers {
		wg.Go(func() {
			for p := range work {
				if _, err := r.Render(p, e); err != nil && !isBudget(err) {
					t.Errorf("Render: %v", err)
				}
			}
		})
	}
	for _, p := range prompts {
		work <- p
	}
	close(work)
	wg.Wait()
	return stop()
}

func isBudget(err error) bool {
	_, ok := err.(*templating.BudgetError)
	return ok
}

// TestTheIssuesWorstCaseStaysWithinItsMemoryBound is issue 15's attack on the renderer: the
// prompts of 10 Hooks of 50 configurations, each 10,000 characters of the most expensive shape
// (about 940 KB compiled, 470 MB for all), rendered by 64 goroutines at once, as if as many
// Hooks as it takes to accept them all were there (domain/pipeline's test of the same attack
// goes through UpsertHook, which refuses most of them). The live heap stays within the cache's
// budget and the heavy work's, not the prompts'.
func TestTheIssuesWorstCaseStaysWithinItsMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles 500 prompts of 10,000 characters")
	}
	prompts := repeat(10*50, expensive)
	before := heapAfterGC()
	r := templating.NewRenderer()
	peak := renderAll(t, r, prompts, restart) - before
	retained := heapAfterGC() - before
	t.Logf("at most %.1f MiB while rendering, %.1f MiB after", mib(peak), mib(retained))
	if retained > retainedBound {
		t.Errorf("the renderer holds %.1f MiB after the renders, more than %.1f MiB", mib(retained), mib(retainedBound))
	}
	if peak > renderingBound {
		t.Errorf("the live heap reached %.1f MiB while rendering, more than %.1f MiB", mib(peak), mib(renderingBound))
	}
	runtime.KeepAlive(r)
}

// TestRendersThatMakeMuchTextStayWithinTheirMemoryBound renders prompts that make as much text as
// their budgets let them (a megabyte of function results each), many at once: only
// MaxHeavyWork of them may hold that much at a time.
func TestRendersThatMakeMuchTextStayWithinTheirMemoryBound(t *testing.T) {
	prompts := []string{
		tenThousand(`{{$x := .Message}}`, `{{$x = print $x $x}}`, ``),
		tenThousand(`{{range .Metadata}}{{$x := printf "`, `%256v`, `"`+repeatString(" $", 64)+`}}{{end}}`),
		`{{print` + repeatString(" .Message", 250) + `}}`,
		tenThousand(`{{range .Tags}}`, `{{$.Message}}`, `{{end}}`),
	}
	var all []string
	for range 100 {
		all = append(all, prompts...)
	}
	before := heapAfterGC()
	r := templating.NewRenderer()
	peak := renderAll(t, r, all, heavy) - before
	retained := heapAfterGC() - before
	t.Logf("at most %.1f MiB while rendering, %.1f MiB after", mib(peak), mib(retained))
	if peak > renderingBound || retained > retainedBound {
		t.Errorf("the live heap reached %.1f MiB while rendering (bound %.1f MiB) and holds %.1f MiB after (bound %.1f MiB)",
			mib(peak), mib(renderingBound), mib(retained), mib(retainedBound))
	}
	runtime.KeepAlive(r)
}

func mib(n int) float64 { return float64(n) / (1 << 20) }

func repeatString(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}
