// Package dedup decides whether an event is new trouble or a repeat, per hook and event key.
//
// The life of an entry:
//
//	first sight           → firing; the agent is due (Observe says Notify)
//	repeat inside window  → duplicate, unless the earlier call failed: then it is due again
//	no repeat for window  → resolved (Sweep)
//	sight after resolved  → a new firing
//	resolved for window   → forgotten (Sweep)
//
// Only one agent call per entry is in flight at a time, so repeats arriving during a slow call
// are duplicates, and order holds per key. A call that failed leaves the entry firing and not
// notified, so it stays due: the next repeat, or the pipeline's retry of due entries, calls again,
// skipping agents that already succeeded.
//
// The Store is safe for concurrent use. Time comes from a clock (k8s.io/utils/clock), so tests
// drive it with a fake one. Snapshot and Restore move the state to and from Hook status so that a
// restart or a leader failover does not call an agent again for trouble it already reported.
package dedup
