package templating

import (
	"sync"
	"sync/atomic"
)

// promptCache holds compiled templates by their text within a budget of cost. A hit takes no
// lock and writes nothing shared unless its entry was not marked used yet. Adding takes a mutex,
// under which the cost is kept: it is always the sum of the costs of the entries in the ring,
// which are the entries of the map, so it cannot drift. Past the budget, entries give way in
// the order of a clock hand sweeping the ring (CLOCK, an approximation of least recently used):
// an entry used since the hand last passed is spared once.
type promptCache struct {
	m      sync.Map // text → *cached
	mu     sync.Mutex
	ring   []*cached // guarded by mu
	hand   int       // guarded by mu: the next entry of ring the hand looks at
	cost   int       // guarded by mu: the sum of ring's costs
	budget int
}

type cached struct {
	text string
	t    *Template
	err  error
	cost int
	used atomic.Bool // used since the hand last passed
}

// get returns the entry of text, or nil.
func (c *promptCache) get(text string) *cached {
	v, ok := c.m.Load(text)
	if !ok {
		return nil
	}
	e := v.(*cached)
	if !e.used.Load() {
		e.used.Store(true)
	}
	return e
}

// put adds e, making room for it, unless text has an entry already: it returns the entry the
// cache holds for e.text. An entry costing more than the whole budget is not kept.
func (c *promptCache) put(e *cached) *cached {
	if e.cost > c.budget {
		return e
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m.Load(e.text); ok {
		return v.(*cached)
	}
	for c.cost+e.cost > c.budget {
		c.evict()
	}
	c.ring = append(c.ring, e)
	c.cost += e.cost
	c.m.Store(e.text, e)
	return e
}

// evict drops one entry: the first one the hand finds unused, or the one it stands at after a
// whole turn (hits may mark entries faster than it clears them). The ring must not be empty.
func (c *promptCache) evict() {
	for looked := 0; ; looked++ {
		if c.hand >= len(c.ring) {
			c.hand = 0
		}
		e := c.ring[c.hand]
		if looked < len(c.ring) && e.used.Load() {
			e.used.Store(false)
			c.hand++
			continue
		}
		last := len(c.ring) - 1
		c.ring[c.hand], c.ring[last] = c.ring[last], nil
		c.ring = c.ring[:last]
		c.cost -= e.cost
		c.m.Delete(e.text)
		return
	}
}
