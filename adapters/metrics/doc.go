// Package metrics counts what khook does, on controller-runtime's metrics registry (served at the
// manager's metrics address), with the khook_ prefix: events received, matched, suppressed as
// duplicates and firing; sends and investigations per agent; retries, queue depths and breaker
// states; status writes; template refusals.
package metrics
