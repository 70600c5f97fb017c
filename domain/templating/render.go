package templating

import (
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
	turns chan struct{} // the Renderer's turns of heavy work; nil: none taken
}

// Render renders the template for e, within the render budgets. A budget that stops it gives a
// *BudgetError wrapping ErrBudgetExceeded and the budget's own sentinel. The incident is e's
// resource alone: .Subject is e's kind, namespace and name, .Resources its name, .ResourceCount 1.
func (t *Template) Render(e event.Event) (string, error) { return t.render(&e, nil, false) }

// RenderGroup renders the template for e in the incident g, as Render does; see Group for what
// the renderer makes of g.
func (t *Template) RenderGroup(e event.Event, g Group) (string, error) {
	return t.render(&e, &g, false)
}

// Cost is what the compiled template holds in memory, in bytes: its program and its text, as
// the Go allocator sizes them (within a few percent of what the heap shows).
func (t *Template) Cost() int { return t.cost }

// Renderer compiles, checks and caches templates. It is safe for concurrent use.
//
// Its memory is bounded: the cache holds at most MaxCacheCost of compiled templates, the
// least recently used giving way (a prompt dropped is compiled again when it renders next),
// and at most MaxHeavyWork compiles and renders that may hold much memory run at once.
type Renderer struct {
	clock      clock.PassiveClock
	cache      promptCache
	turns      chan struct{}
	hookBudget int
}

// NewRenderer returns a Renderer whose deadline is measured with the real clock.
func NewRenderer() *Renderer { return NewRendererWithClock(clock.RealClock{}) }

// NewRendererWithClock returns a Renderer whose deadline (RenderDeadline) is measured with c.
// With a nil clock renders have no deadline: the step budget still bounds them.
func NewRendererWithClock(c clock.PassiveClock) *Renderer {
	return newRenderer(c, MaxCacheCost, MaxHookCost, MaxHeavyWork)
}

func newRenderer(c clock.PassiveClock, cacheBudget, hookBudget, heavyWork int) *Renderer {
	return &Renderer{clock: c, cache: promptCache{budget: cacheBudget}, turns: make(chan struct{}, heavyWork), hookBudget: hookBudget}
}

// Compile parses and checks text, or returns the cached result of doing so. The error wraps
// ErrRefused.
func (r *Renderer) Compile(text string) (*Template, error) {
	c := r.lookup(text, true)
	return c.t, c.err
}

// lookup returns the cache's entry of text or, when it has none, compiles text (in a turn of
// heavy work when it is long) into a new one, which it caches if keep is set.
func (r *Renderer) lookup(text string, keep bool) *cached {
	if c := r.cache.get(text); c != nil {
		return c
	}
	if len(text) > lightCompileBytes {
		r.turns <- struct{}{}
		defer func() { <-r.turns }()
	}
	c := r.build(text)
	if keep {
		c = r.cache.put(c)
	}
	return c
}

// build returns the cache's entry of text if it has one by now, else compiles text into an
// entry it does not cache.
func (r *Renderer) build(text string) *cached {
	if c := r.cache.get(text); c != nil {
		return c
	}
	t, err := compile(text)
	c := &cached{text: text, t: t, err: err}
	if t != nil {
		t.clock, t.turns = r.clock, r.turns
		c.cost = entryOverhead + t.cost
	} else {
		c.cost = entryOverhead + alloc(len(text)) + 2*len(err.Error()) // the message, and what it wraps
	}
	return c
}

// Check parses text and walks it against the allow-list without rendering it.
func (r *Renderer) Check(text string) error {
	_, err := r.Compile(text)
	return err
}

// Render renders text for e; see Template.Render. The incident is e's resource alone.
//
// A render that is heavy work (see MaxHeavyWork) waits for its turn holding nothing but the
// text: it compiles the prompt, if the cache has let it go meanwhile, and renders it in that
// turn.
func (r *Renderer) Render(text string, e event.Event) (string, error) {
	return r.render(text, &e, nil)
}

// RenderGroup renders text for e in the incident g; see Template.RenderGroup.
func (r *Renderer) RenderGroup(text string, e event.Event, g Group) (string, error) {
	return r.render(text, &e, &g)
}

func (r *Renderer) render(text string, e *event.Event, g *Group) (string, error) {
	if out, done, err := r.renderLight(text, e, g); done {
		return out, err
	}
	r.turns <- struct{}{}
	c := r.build(text)
	if c.err != nil {
		<-r.turns
		return "", c.err
	}
	return r.cache.put(c).t.render(e, g, true)
}

// renderLight renders text unless that is heavy work that must wait for a turn.
func (r *Renderer) renderLight(text string, e *event.Event, g *Group) (out string, done bool, err error) {
	c := r.cache.get(text)
	switch {
	case c != nil && c.err != nil:
		return "", true, c.err
	case c != nil && c.t.cost <= lightTemplateCost:
		out, err = c.t.render(e, g, false)
		return out, true, err
	case c != nil:
		select {
		case r.turns <- struct{}{}:
			out, err = c.t.render(e, g, true)
			return out, true, err
		default:
			return "", false, nil
		}
	case len(text) <= lightCompileBytes:
		if c = r.lookup(text, true); c.err != nil {
			return "", true, c.err
		}
		out, err = c.t.render(e, g, false)
		return out, true, err
	}
	return "", false, nil
}

// HookBudget returns a new budget for the prompts of one Hook: see HookBudget.Check.
func (r *Renderer) HookBudget() *HookBudget {
	return &HookBudget{r: r, budget: r.hookBudget, seen: map[string]struct{}{}}
}

// HookBudget adds up the compiled cost of one Hook's prompts against MaxHookCost, each
// distinct prompt once. It is not safe for concurrent use: check a Hook's configurations one
// after another, in their order, so that the same ones are refused each time.
type HookBudget struct {
	r      *Renderer
	budget int
	cost   int
	seen   map[string]struct{}
}

// Check checks text as Renderer.Check does, then adds its cost to the Hook's: a prompt that
// would take the Hook past its budget is refused with a *CostError (wrapping ErrHookBudget and
// ErrRefused), adds nothing, and is not kept in the cache (unless it was there already).
func (b *HookBudget) Check(text string) error {
	c := b.r.lookup(text, false)
	if c.err != nil {
		return c.err
	}
	if _, counted := b.seen[text]; counted {
		return nil
	}
	if total := b.cost + c.t.cost; total > b.budget {
		return &CostError{Cost: c.t.cost, Total: total, Budget: b.budget}
	}
	b.r.cache.put(c)
	b.seen[text] = struct{}{}
	b.cost += c.t.cost
	return nil
}

// Cost is what the prompts checked and not refused cost together.
func (b *HookBudget) Cost() int { return b.cost }
