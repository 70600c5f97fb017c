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
// The Store is safe for concurrent use and built for event storms. It keeps one row per event key,
// spread over shards each with its own lock; a row holds the key's latest sight and each hook's
// entry. When every hook an event matched fires its key, ObserveAll takes a repeat as one count on
// the row, whatever the number of hooks: one shard lock, no allocation. Time comes from a clock
// (k8s.io/utils/clock), so tests drive it with a fake one. Snapshot and Restore move the state to and from Hook status so that a restart or a leader
// failover keeps every firing.
package dedup
