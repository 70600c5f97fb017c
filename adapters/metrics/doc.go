// Package metrics counts what the pipeline does, on controller-runtime's metrics registry
// (served at the manager's metrics address):
//
//	khook_events_total{event_type,outcome}            outcome: firing, duplicate, retry, unmatched
//	khook_agent_calls_total{agent,result}             result: success, failure
//	khook_agent_call_duration_seconds{agent}          histogram
//	khook_agent_calls_in_flight                       gauge
package metrics
