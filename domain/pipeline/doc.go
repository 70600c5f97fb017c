// Package pipeline is khook's use case: an event comes in; for every Hook it matches, a new
// firing is handed to the delivery engine, which tells each configured agent once; what happened
// is kept on the Hook's status.
//
// For each Hook the event matches:
//
//	dedup.Observe ── duplicate ──▶ counted, nothing else (no log, no audit, no write)
//	      │ new firing                     │ ended (the source says it recovered or is gone)
//	      ▼                                ▼
//	audit "firing", status soon,        audit "resolved", status soon,
//	delivery.Ensure(agents)             delivery.End: what waits is abandoned
//
// The message is prepared when its turn comes (preparer): from the Hook's configuration at that
// moment and the firing's latest occurrence, so a retry renders the full prompt and an edited
// Hook is honoured. UpsertHook validates a Hook and brings its firings' ledgers in line with it;
// RestoreHook reads a Hook's status back after a restart, before any event is handled.
//
// Handle never waits for an agent. Run runs the background work on an injected clock: RunDue
// (retries and polls), Sweep (quiet events resolve), and FlushStatus, which writes state changes
// promptly and mere repeats (lastSeen, occurrences) only on a full flush; and at shutdown it stops
// sending, drains and writes the final status. An embedder may call those itself instead.
package pipeline
