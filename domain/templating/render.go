package templating

import (
	"sync"
	"sync/atomic"

	"k8s.io/utils/clock"

	"github.com/khook-dev/khook/domain/event"
)

// Template is a compiled, checked prompt. It is safe for concurrent use.
type Template struct {
	text  string
	root  []stmt
	slots int // variables, $ included
	cost  int
	clock clock.PassiveClock
}

// Render renders the template for e, within the render budgets. A budget that stops it gives a
// *BudgetError wrapping ErrBudgetExceeded and the budget's own sentinel.
func (t *Template) Render(e event.Event) (string, error) { return t.render(&e) }

// Cost is what the compiled template holds in memory, in bytes: its program and its text, as
// the Go allocator sizes them (within a few percent of what the heap shows).
func (t *Template) Cost() int { return t.cost }

// Renderer compiles, checks and caches templates. It is safe for concurrent use.
type Renderer struct {
	clock clock.PassiveClock
	cache sync.Map     // template text → *compiled
	size  atomic.Int64 // entries in cache
	bytes atomic.Int64 // bytes of template text in cache
}

type compiled struct {
	t   *Template
	err error
}

// NewRenderer returns a Renderer whose deadline is measured with the real clock.
func NewRenderer() *Renderer { return NewRendererWithClock(clock.RealClock{}) }

// NewRendererWithClock returns a Renderer whose deadline (RenderDeadline) is measured with c.
// With a nil clock renders have no deadline: the step budget still bounds them.
func NewRendererWithClock(c clock.PassiveClock) *Renderer { return &Renderer{clock: c} }

// Compile parses and checks text, or returns the cached result of doing so. The error wraps
// ErrRefused.
func (r *Renderer) Compile(text string) (*Template, error) {
	if c, ok := r.cache.Load(text); ok {
		return c.(*compiled).t, c.(*compiled).err
	}
	t, err := compile(text)
	if t != nil {
		t.clock = r.clock
	}
	if r.size.Add(1) > maxCachedEntries || r.bytes.Add(int64(len(text))) > maxCachedBytes {
		r.cache.Clear() // hooks change rarely; start over
		r.size.Store(1)
		r.bytes.Store(int64(len(text)))
	}
	r.cache.Store(text, &compiled{t: t, err: err})
	return t, err
}

// Check parses text and walks it against the allow-list without rendering it.
func (r *Renderer) Check(text string) error {
	_, err := r.Compile(text)
	return err
}

// Render renders text for e; see Template.Render.
func (r *Renderer) Render(text string, e event.Event) (string, error) {
	t, err := r.Compile(text)
	if err != nil {
		return "", err
	}
	return t.render(&e)
}
