package metrics

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// Metrics implements ports.Metrics, and the adapters' own counters, with Prometheus collectors.
type Metrics struct {
	received, matched, duplicates, firings *prometheus.CounterVec
	firingEntries                          prometheus.Gauge
	refusals                               *prometheus.CounterVec
	sends                                  *prometheus.CounterVec
	sendDuration                           *prometheus.HistogramVec
	investigations                         *prometheus.HistogramVec
	retries                                *prometheus.CounterVec
	queueDepth                             *prometheus.GaugeVec
	breaker                                *prometheus.GaugeVec
	statusWrites                           *prometheus.CounterVec
}

var _ ports.Metrics = (*Metrics)(nil)

var (
	shared     *Metrics
	sharedErr  error
	sharedOnce sync.Once
)

// New returns the process's metrics, registered once on controller-runtime's registry (several
// managers in one process, as in tests, share them).
func New() (*Metrics, error) {
	sharedOnce.Do(func() { shared, sharedErr = register(metrics.Registry) })
	return shared, sharedErr
}

func register(reg prometheus.Registerer) (*Metrics, error) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := &Metrics{
		received:      counter("khook_events_received_total", "Events the sources delivered, by source and type.", "source", "event_type"),
		matched:       counter("khook_events_matched_total", "Hook sightings of events (one per matching Hook), by type.", "event_type"),
		duplicates:    counter("khook_events_duplicate_total", "Sightings of trouble already firing: suppressed, nobody told again.", "event_type"),
		firings:       counter("khook_firings_total", "Firings started, by type.", "event_type"),
		firingEntries: prometheus.NewGauge(prometheus.GaugeOpts{Name: "khook_firing_entries", Help: "Event keys firing now, over all Hooks."}),
		refusals:      counter("khook_template_refusals_total", "Prompts refused at check time or stopped while rendering.", "reason"),
		sends:         counter("khook_agent_sends_total", "Sends to agents by result: accepted, failed, permanent, uncertain.", "agent", "result"),
		sendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "khook_agent_send_duration_seconds",
			Help: "How long a send took (the agent returns at once).", Buckets: prometheus.ExponentialBuckets(0.005, 3, 10)}, []string{"agent"}),
		investigations: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "khook_investigation_duration_seconds",
			Help: "How long followed investigations took, by outcome.", Buckets: []float64{10, 30, 60, 120, 300, 600, 1200, 1800, 3600}}, []string{"agent", "outcome"}),
		retries:      counter("khook_delivery_retries_total", "Failed deliveries scheduled for another attempt.", "agent"),
		queueDepth:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "khook_agent_queue_depth", Help: "Deliveries waiting for a slot of their agent."}, []string{"agent"}),
		breaker:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "khook_agent_breaker_state", Help: "Circuit breaker per agent: 0 closed, 1 half-open, 2 open."}, []string{"agent"}),
		statusWrites: counter("khook_status_writes_total", "Hook status writes by result: written, unchanged, conflict, too-large, error.", "result"),
	}
	for _, c := range []prometheus.Collector{m.received, m.matched, m.duplicates, m.firings, m.firingEntries, m.refusals, m.sends,
		m.sendDuration, m.investigations, m.retries, m.queueDepth, m.breaker, m.statusWrites} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return nil, err
			}
		}
	}
	return m, nil
}

// EventHandled implements ports.Metrics.
func (m *Metrics) EventHandled(source string, t event.Type, matched, firing, duplicates int) {
	m.received.WithLabelValues(source, string(t)).Inc()
	if matched > 0 {
		m.matched.WithLabelValues(string(t)).Add(float64(matched))
	}
	if firing > 0 {
		m.firings.WithLabelValues(string(t)).Add(float64(firing))
	}
	if duplicates > 0 {
		m.duplicates.WithLabelValues(string(t)).Add(float64(duplicates))
	}
}

// FiringEntries implements ports.Metrics.
func (m *Metrics) FiringEntries(delta int) { m.firingEntries.Add(float64(delta)) }

// TemplateRefused implements ports.Metrics.
func (m *Metrics) TemplateRefused(reason string) { m.refusals.WithLabelValues(reason).Inc() }

// SendFinished implements ports.DeliveryMetrics.
func (m *Metrics) SendFinished(agent hook.AgentRef, result string, took time.Duration) {
	m.sends.WithLabelValues(agent.String(), result).Inc()
	m.sendDuration.WithLabelValues(agent.String()).Observe(took.Seconds())
}

// InvestigationFinished implements ports.DeliveryMetrics.
func (m *Metrics) InvestigationFinished(agent hook.AgentRef, outcome string, took time.Duration) {
	m.investigations.WithLabelValues(agent.String(), outcome).Observe(took.Seconds())
}

// RetryScheduled implements ports.DeliveryMetrics.
func (m *Metrics) RetryScheduled(agent hook.AgentRef) {
	m.retries.WithLabelValues(agent.String()).Inc()
}

// QueueDepth implements ports.DeliveryMetrics.
func (m *Metrics) QueueDepth(agent hook.AgentRef, depth int) {
	m.queueDepth.WithLabelValues(agent.String()).Set(float64(depth))
}

// BreakerState records a circuit breaker's state: closed, half-open or open.
func (m *Metrics) BreakerState(agent, state string) {
	v := map[string]float64{"closed": 0, "half-open": 1, "open": 2}[state]
	m.breaker.WithLabelValues(agent).Set(v)
}

// StatusWrite counts a Hook status write by result.
func (m *Metrics) StatusWrite(result string) { m.statusWrites.WithLabelValues(result).Inc() }
