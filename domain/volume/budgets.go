package volume

import (
	"fmt"
	"sync"
	"time"

	"github.com/khook-dev/khook/domain/hook"
)

// Budgets are token buckets that bound how many investigations start: one per Hook, of the size
// its spec.limits.maxInvestigationsPerHour says, and one per agent, of the size the controller
// sets for every agent. A bucket of n holds n tokens and gains one every hour/n: n
// investigations may start at once, then one every hour/n.
//
// A bucket is kept as the moment it will be full again (the theoretical arrival time of the
// generic cell rate algorithm): one number, exact, with no refill loop. A full bucket is the
// same as no bucket, so full buckets are forgotten, and so are those of Hooks that are gone: at
// most a sweep interval (a minute) after they fill up, on the next Take, the memory is
// released. Budgets is safe for concurrent use.
type Budgets struct {
	perAgent int // tokens per hour for each agent; 0: no agent budget

	mu     sync.Mutex
	hooks  buckets[hook.Ref] // the moment each Hook's bucket is full again, in Unix nanoseconds
	agents buckets[hook.AgentRef]
	// lastSweep is when full buckets were last forgotten; sweepAt the count of buckets at which
	// they are forgotten sooner.
	lastSweep int64
	sweepAt   int
}

// Sweeping: full buckets are forgotten at most sweepEvery apart, or as soon as the count of
// buckets doubles (and reaches minSweepAt) since the last sweep, whichever comes first.
const (
	sweepEvery = time.Minute
	minSweepAt = 1024
)

// NewBudgets returns budgets with perAgentPerHour tokens per hour for each agent; 0 (or less)
// sets no agent budget.
func NewBudgets(perAgentPerHour int) *Budgets {
	return &Budgets{perAgent: max(perAgentPerHour, 0), hooks: newBuckets[hook.Ref](0), agents: newBuckets[hook.AgentRef](0), sweepAt: minSweepAt}
}

// Take takes one token from c's Hook's bucket (of hookLimit tokens an hour; 0 or less: no Hook
// budget) and one from the bucket of each of c's agents, at now; only if every one of them has
// a token, else from none. When one is empty it returns false and names the budget, e.g.
// "hook apps/h: 10 an hour" or "agent kagent/x: 100 an hour" (the Hook's first). A change of a
// Hook's limit applies to its bucket as it is: a bucket emptied under the old limit refills at
// the new rate. Take allocates nothing when it takes tokens from buckets it knows; a new bucket is
// a map entry, and a sweep that forgets most buckets builds the map anew.
func (b *Budgets) Take(c Candidate, hookLimit int, now time.Time) (ok bool, exhausted string) {
	t := now.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.maybeSweep(t)

	var hookNext int64
	if hookLimit > 0 {
		next, ok := take(b.hooks.m[c.Hook], hookLimit, t)
		if !ok {
			return false, fmt.Sprintf("hook %s: %s", c.Hook, perHour(hookLimit))
		}
		hookNext = next
	}
	if b.perAgent > 0 {
		for i, a := range c.Agents {
			if seenBefore(c.Agents[:i], a) {
				continue
			}
			if _, ok := take(b.agents.m[a], b.perAgent, t); !ok {
				return false, fmt.Sprintf("agent %s: %s", a, perHour(b.perAgent))
			}
		}
		for i, a := range c.Agents {
			if !seenBefore(c.Agents[:i], a) {
				b.agents.m[a], _ = take(b.agents.m[a], b.perAgent, t)
			}
		}
	}
	if hookLimit > 0 {
		b.hooks.m[c.Hook] = hookNext
	}
	return true, ""
}

// Spent records that an investigation of c started at at, before this process kept the budgets
// (a restart, a new leader): its tokens are taken from c's Hook's bucket and its agents' as they
// were then, so that a new leader's buckets are as spent as the last leader's. Unlike Take it
// never refuses; a bucket is never owed more than an hour of refill. Call it in the order the
// investigations started.
func (b *Budgets) Spent(c Candidate, hookLimit int, at, now time.Time) {
	t, most := at.UnixNano(), now.Add(time.Hour).UnixNano()
	spend := func(full int64, limit int) int64 {
		return min(max(full, t)+int64(time.Hour)/int64(limit), most)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if hookLimit > 0 {
		b.hooks.m[c.Hook] = spend(b.hooks.m[c.Hook], hookLimit)
	}
	if b.perAgent > 0 {
		for i, a := range c.Agents {
			if !seenBefore(c.Agents[:i], a) {
				b.agents.m[a] = spend(b.agents.m[a], b.perAgent)
			}
		}
	}
}

// take is the generic cell rate algorithm for a bucket of limit tokens an hour that is full
// again at full (Unix nanoseconds; 0 for a bucket never used): whether it holds a token at now,
// and the moment it is full again once that token is taken.
func take(full int64, limit int, now int64) (int64, bool) {
	interval := int64(time.Hour) / int64(limit)
	start := max(full, now)
	next := start + interval
	if next-now > int64(time.Hour) {
		return full, false
	}
	return next, true
}

func seenBefore(agents []hook.AgentRef, a hook.AgentRef) bool {
	for _, x := range agents {
		if x == a {
			return true
		}
	}
	return false
}

func perHour(n int) string { return fmt.Sprintf("%d an hour", n) }

// ForgetHook drops the bucket of a Hook that is gone. (It would be forgotten anyway once full.)
func (b *Budgets) ForgetHook(ref hook.Ref) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.hooks.m, ref)
}

// Buckets is how many buckets Budgets holds: those not full at the last sweep or used since.
func (b *Budgets) Buckets() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.hooks.m) + len(b.agents.m)
}

// maybeSweep forgets the full buckets when it is time (see sweepEvery and minSweepAt).
func (b *Budgets) maybeSweep(now int64) {
	n := len(b.hooks.m) + len(b.agents.m)
	if n == 0 || (now-b.lastSweep < int64(sweepEvery) && n < b.sweepAt) {
		return
	}
	b.lastSweep = now
	b.hooks.forgetFull(now)
	b.agents.forgetFull(now)
	b.sweepAt = max(minSweepAt, 2*(len(b.hooks.m)+len(b.agents.m)))
}

// buckets maps a key to the moment its bucket is full again. Go maps never give back the memory
// of deleted entries, so the map is built anew once fewer than half of the entries it grew to
// hold are left; until then full buckets are deleted in place.
type buckets[K comparable] struct {
	m    map[K]int64
	peak int // the most entries m held since it was built
}

func newBuckets[K comparable](size int) buckets[K] {
	return buckets[K]{m: make(map[K]int64, size), peak: size}
}

func (b *buckets[K]) forgetFull(now int64) {
	b.peak = max(b.peak, len(b.m))
	kept := 0
	for _, full := range b.m {
		if full > now {
			kept++
		}
	}
	switch {
	case kept == len(b.m):
	case kept >= b.peak/2:
		for k, full := range b.m {
			if full <= now {
				delete(b.m, k)
			}
		}
	default:
		fresh := newBuckets[K](kept)
		for k, full := range b.m {
			if full > now {
				fresh.m[k] = full
			}
		}
		*b = fresh
	}
}
