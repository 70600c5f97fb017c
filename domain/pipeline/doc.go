// Package pipeline is khook's use case: an event comes in, and every hook configuration it
// matches gets one agent call per firing.
//
// For each hook the event matches:
//
//	dedup.Observe ── duplicate ──▶ audit "duplicate ignored"
//	      │ notify
//	      ▼
//	audit "firing" (new firing) ──▶ dispatch asynchronously (bounded concurrency):
//	      for each configuration not yet delivered: render → AgentCaller.Call
//	      → audit "agent call succeeded" / "failed"
//	      → dedup.Settle (a failure leaves the entry due for RetryDue)
//
// Handle never waits for an agent: a slow agent delays only its own key, never other hooks or
// keys. Hook status is written by FlushStatus, which coalesces changes per hook; Sweep resolves
// quiet events; RetryDue calls again where a call failed. The caller runs those on a timer.
package pipeline
