// Package metrics counts what khook does, on controller-runtime's metrics registry (served at
// the manager's metrics address, /metrics). Every name has the khook_ prefix and follows the
// Prometheus naming rules (promlint-checked by the tests); docs/operations.md says what each
// series means and the Grafana dashboard in charts/khook/dashboards plots them.
//
// Events (the pipeline, ports.Metrics.EventHandled and FiringEntries):
//
//	khook_events_received_total{source,event_type}    events handed to the pipeline
//	khook_events_matched_total{event_type}            (event, hook) sightings: hooks matched
//	khook_events_duplicate_total{event_type}          sightings suppressed as duplicates
//	khook_firings_total{event_type}                   new firings (an agent will be told)
//	khook_firing_entries                              gauge: entries firing now
//	khook_template_refusals_total{reason}             prompts refused (check time) or cut (budget)
//
// Delivery (SendFinished, InvestigationFinished, RetryScheduled, DeliveryUncertain, QueueDepth,
// BreakerState):
//
//	khook_agent_sends_total{agent,result}             result: accepted, failed, permanent, uncertain
//	khook_agent_send_duration_seconds{agent}          histogram of the A2A send exchange
//	khook_investigation_duration_seconds{agent,outcome}  histogram: send to the task's end
//	khook_delivery_retries_total{agent}               retries scheduled
//	khook_deliveries_uncertain_total{agent,moment}    moment: restart, timeout
//	khook_agent_queue_depth{agent}                    gauge: deliveries waiting per agent
//	khook_agent_breaker_state{agent}                  gauge: 0 closed, 1 half-open, 2 open
//
// Adapters (StatusWrite, SourceUp, SourceRestarted, AuditDropped):
//
//	khook_status_writes_total{result}                 written, unchanged, conflict, too-large, error
//	khook_source_up{source}                           gauge: 1 while the source delivers
//	khook_source_restarts_total{source}               source restarts after a failure
//	khook_audit_events_dropped_total                  audit Events not recorded
//
// Every label is bounded. Agents are named by tenants (a Hook may name any agent), so at most
// Options.MaxAgents agents have series of their own: those some Hook names (AgentUsed), in the
// order they first report; everything else counts under agent="other" (Other), and an agent's
// series are deleted when no Hook names it any more (AgentUnused). Sources and event types come
// from the configured sources, and at most MaxEventSeries pairs are kept apart. Results,
// outcomes, reasons and moments are khook's own words.
//
// EventHandled runs once per event, in an event storm too: it takes no lock and allocates
// nothing once a (source, event type) pair has been seen, nor for a pair beyond the bound
// (BenchmarkEventHandled). The per-agent methods take a lock: they run once per send or task.
package metrics
