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

// Metrics implements ports.Metrics with Prometheus collectors.
type Metrics struct {
	events   *prometheus.CounterVec
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
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
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "khook_events_total", Help: "Events observed, by type and what dedup made of them.",
		}, []string{"event_type", "outcome"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "khook_agent_calls_total", Help: "Agent calls finished, by agent and result.",
		}, []string{"agent", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "khook_agent_call_duration_seconds", Help: "How long agent calls took, retries included.",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600},
		}, []string{"agent"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "khook_agent_calls_in_flight", Help: "Agent calls under way.",
		}),
	}
	for _, c := range []prometheus.Collector{m.events, m.calls, m.duration, m.inFlight} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return nil, err
			}
		}
	}
	return m, nil
}

// EventObserved implements ports.Metrics.
func (m *Metrics) EventObserved(t event.Type, outcome string) {
	m.events.WithLabelValues(string(t), outcome).Inc()
}

// AgentCallFinished implements ports.Metrics.
func (m *Metrics) AgentCallFinished(agent hook.AgentRef, result string, took time.Duration) {
	m.calls.WithLabelValues(agent.String(), result).Inc()
	m.duration.WithLabelValues(agent.String()).Observe(took.Seconds())
}

// CallsInFlight implements ports.Metrics.
func (m *Metrics) CallsInFlight(delta int) { m.inFlight.Add(float64(delta)) }
