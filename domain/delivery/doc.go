// Package delivery tells agents of firings and follows the work they start: per-agent lanes,
// send → follow the task → outcome, retries with backoff, and the ledger that survives restarts.
//
// A firing is handed over with Ensure, naming the agents to tell. Each (firing, agent) gets a
// Record in the ledger, and its life is:
//
//	pending ──send──▶ sending ──accepted──▶ submitted/working ──poll…──▶ completed
//	   ▲                 │                         │                ├─▶ failed/rejected ─┐
//	   │                 │ transient error         │                ├─▶ canceled         │
//	   └── backoff ◀─────┴─────────────────────────┼────────────────┼────────────────────┘
//	                     │ permanent error         │                ├─▶ input-required, auth-required (a person is needed)
//	                     ▼                         │                └─▶ timed-out (no end within the investigation deadline)
//	               undeliverable ◀── retries used up
//
// A send holds a slot of its agent's lane only for the HTTP exchange (the agent returns at
// once); the investigation that follows is polled with backoff and counts against the agent's
// limit of investigations in progress. Lanes are per agent, so a slow, down or saturated agent
// never delays another; within a lane, Hooks take turns. What waits stays pending, never dropped.
//
// Failed deliveries (a transport error, a task that failed or was rejected) are retried with
// exponential backoff and jitter until MaxAttempts; permanent failures (no such agent, refused,
// a prompt that cannot be rendered) stop at once. A record given up is tried again when its Hook
// changes (Revive); one that failed for lack of its agent (undeliverable, but not for its prompt)
// also once when its agent, after a failed send, accepts a delivery again.
//
// Guarantee for the one uncertain moment (the process dies after a send, before the status write):
// AtLeastOnce sends again after a restart, with the same message id so that the agent can
// recognise the repeat; AtMostOnce persists the intent to send before every send and, after a
// restart, records such a delivery as unknown instead of sending again. The ledger (Snapshot,
// Restore) is what the Hook's status keeps.
//
// The Engine takes time from a clock and randomness from a function, so tests drive it with a
// fake clock. It never blocks its callers on an agent.
package delivery
