package volume

import (
	"sync"
	"time"

	"github.com/khook-dev/khook/domain/hook"
)

// DefaultMaxCooldownEntries is how many ended investigations Cooldowns remembers unless told
// otherwise: about 10 MB at most.
const DefaultMaxCooldownEntries = 100_000

// Cooldowns remembers when the latest investigation of each Hook and subject ended, so that a
// new incident of that subject within the Hook's cooldown starts none (a flapping workload is
// investigated once per cooldown). It is bounded: an entry older than hook.MaxCooldown (the
// longest cooldown a Hook may have) is forgotten, and past the maximum count the entries
// recorded first are (a cooldown cut short costs an investigation; memory without bound could
// cost the controller). Call Ended only for Hooks with a cooldown. Cooldowns is safe for
// concurrent use.
type Cooldowns struct {
	max int

	mu    sync.Mutex
	ended map[cooldownKey]int64 // when the latest investigation ended, Unix nanoseconds
	// order lists the entries in the order they were recorded, from head on; a record whose
	// time is not its key's in ended is stale (the key ended again later, or was forgotten).
	order []cooldownRecord
	head  int
}

type cooldownKey struct {
	hook    hook.Ref
	subject Subject
}

type cooldownRecord struct {
	key cooldownKey
	at  int64
}

// NewCooldowns returns Cooldowns that remember at most maxEntries ended investigations;
// 0 (or less) means DefaultMaxCooldownEntries.
func NewCooldowns(maxEntries int) *Cooldowns {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxCooldownEntries
	}
	return &Cooldowns{max: maxEntries, ended: map[cooldownKey]int64{}}
}

// Ended records that an investigation by h of subject ended at at. An earlier end than the one
// recorded changes nothing.
func (c *Cooldowns) Ended(h hook.Ref, subject Subject, at time.Time) {
	key, t := cooldownKey{h, subject}, at.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.ended[key]; ok && prev >= t {
		return
	}
	c.ended[key] = t
	c.order = append(c.order, cooldownRecord{key, t})
	c.forget(t)
}

// Allows says whether an incident of subject may start an investigation by h at now, given the
// Hook's cooldown; when it may not, until is when it may. A cooldown of 0 (or less) always
// allows.
func (c *Cooldowns) Allows(h hook.Ref, subject Subject, cooldown time.Duration, now time.Time) (bool, time.Time) {
	if cooldown <= 0 {
		return true, time.Time{}
	}
	cooldown = min(cooldown, hook.MaxCooldown)
	c.mu.Lock()
	at, ok := c.ended[cooldownKey{h, subject}]
	c.mu.Unlock()
	if !ok {
		return true, time.Time{}
	}
	until := time.Unix(0, at).Add(cooldown).In(now.Location())
	if now.Before(until) {
		return false, until
	}
	return true, time.Time{}
}

// ForgetHook drops the entries of a Hook that is gone, or whose cooldown was removed.
func (c *Cooldowns) ForgetHook(h hook.Ref) {
	c.mu.Lock()
	defer c.mu.Unlock()
	found := false
	for k := range c.ended {
		if k.hook == h {
			delete(c.ended, k)
			found = true
		}
	}
	if found { // a Hook without a cooldown (most) costs a scan, not a rebuild
		c.compact()
	}
}

// Len is how many ended investigations Cooldowns remembers.
func (c *Cooldowns) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ended)
}

// forget drops the entries recorded first while there are too many or they are older than the
// longest cooldown at now, skipping stale records; then it compacts the records when most of
// them are consumed or stale.
func (c *Cooldowns) forget(now int64) {
	oldest := now - int64(hook.MaxCooldown)
	for c.head < len(c.order) {
		r := c.order[c.head]
		if at, ok := c.ended[r.key]; ok && at == r.at {
			if len(c.ended) <= c.max && r.at > oldest {
				break
			}
			delete(c.ended, r.key)
		}
		c.order[c.head] = cooldownRecord{}
		c.head++
	}
	if (c.head > minCompact && c.head > len(c.order)/2) || len(c.order)-c.head > 2*len(c.ended)+minCompact {
		c.compact()
	}
}

// minCompact keeps small sets from being compacted on every change.
const minCompact = 64

// compact keeps only the live records, and builds the map anew (Go maps never give back the
// memory of deleted entries).
func (c *Cooldowns) compact() {
	live := make([]cooldownRecord, 0, len(c.ended))
	for _, r := range c.order[c.head:] {
		if at, ok := c.ended[r.key]; ok && at == r.at {
			live = append(live, r)
		}
	}
	ended := make(map[cooldownKey]int64, len(live))
	for _, r := range live {
		ended[r.key] = r.at
	}
	c.order, c.head, c.ended = live, 0, ended
}
