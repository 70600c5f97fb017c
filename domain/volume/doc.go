// Package volume decides whether an incident may start an investigation, beyond what its Hook
// matches: a Silence holding it, a budget that is empty, a cooldown that is not over. Each
// investigation is an LLM run that costs money and a person's attention; these are the controls
// the people who run khook have over how many start.
//
//   - Silences (Silence, Silences): matchers (globs on the event type, the Hook's name, the
//     subject's kind and name; a label selector) and a window [StartsAt, EndsAt). A Silence
//     holds the incidents of the Hooks of its own namespace, and, when it lives in a cluster
//     event namespace, those of the Hooks of every cluster event namespace; never another
//     tenant's. Nothing happens when a Silence ends: the caller asks NextChange when to look
//     again at the incidents it holds (Alertmanager's trap: expiry emits nothing).
//   - Budgets: a token bucket per Hook (spec.limits.maxInvestigationsPerHour) and per agent (one
//     number for the whole controller). Take takes a token from each bucket an investigation
//     would use, or from none, and names the budget that refused.
//   - Cooldowns: after an investigation of a subject ends, no new one of the same subject
//     starts within the Hook's cooldown.
//
// Every type here is safe for concurrent use, takes the time as an argument (the caller reads
// its clock port; tests a fake clock), and bounds its memory: silences per namespace, buckets
// that are full or of Hooks that are gone, cooldown entries by age and count. None of it is on
// the path of a duplicate sighting: these are asked once per incident about to start an
// investigation.
package volume
