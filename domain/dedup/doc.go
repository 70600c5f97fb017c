// Package dedup decides whether an event is new trouble or a repeat, per hook and event key.
//
// The life of an entry:
//
//	first sight                 → firing (Observe says NewFiring): whoever must be told is told
//	repeat inside the window    → duplicate: nobody is told again
//	the source says it ended    → resolved, as recovered or deleted (Observe says Ended)
//	no repeat for the window    → resolved as quiet (Sweep)
//	sight after resolved        → a new firing
//	resolved for a window       → forgotten (Sweep)
//
// Who is told, and how that goes, is package delivery's business: dedup knows only firings.
//
// The Store is safe for concurrent use and built for event storms: entries live in one table per
// hook behind a copy-on-write map, so a duplicate takes only its hook's lock, copies nothing and
// allocates nothing. Time comes from a clock (k8s.io/utils/clock), so tests drive it with a fake
// one. Snapshot and Restore move the state to and from Hook status so that a restart or a leader
// failover keeps every firing.
package dedup
