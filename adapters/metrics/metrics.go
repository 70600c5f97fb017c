package metrics

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// Breaker states as khook_agent_breaker_state reports them.
const (
	BreakerClosed   = "closed"
	BreakerHalfOpen = "half-open"
	BreakerOpen     = "open"
)

// StatusWriteResults are the results khook_status_writes_total counts, each present from start.
var StatusWriteResults = []string{"written", "unchanged", "conflict", "too-large", "error"}

// SuppressionReasons are the reasons khook_incidents_suppressed_total counts, each present from
// start.
var SuppressionReasons = []string{"backlog", "silenced", "rate-limited", "cooldown", "inhibited"}

// InvestigationPhases are the phases khook_investigations reports, each present from start.
var InvestigationPhases = []string{"pending", "working", "completed", "failed", "input-required", "lost", "resolved", "suppressed"}

// TemplateRefusalReasons are the reasons khook_template_refusals_total counts, each present from
// start: refused at check time, cut by a budget when rendered, or failed otherwise.
var TemplateRefusalReasons = []string{"refused", "budget", "error"}

// WebhookRefusalReasons are the reasons khook_webhook_refused_total counts, each present from
// start (package alertmanager's RefusalReasons).
var WebhookRefusalReasons = []string{"unauthorized", "body-too-large", "too-many-alerts", "rate-limited", "malformed", "timeout", "busy"}

var breakerValues = map[string]float64{BreakerClosed: 0, BreakerHalfOpen: 1, BreakerOpen: 2}

// Other is the label value under which khook counts what it does not count apart: agents beyond
// Options.MaxAgents or no Hook names, and (source, event type) pairs beyond MaxEventSeries. An
// agent's label is always "namespace/name", so no agent is called Other.
const Other = "other"

// DefaultMaxAgents is how many agents have series of their own unless Options say otherwise.
const DefaultMaxAgents = 100

// MaxEventSeries bounds the (source, event type) pairs the event counters keep apart; further
// pairs count under source and event type Other. Sources are configured by the operator and
// the router drops every event type its source does not claim, so a khook has a few dozen
// pairs; the bound is there for a source (a plugin, say) that makes names up from its input.
const MaxEventSeries = 1000

// Options bound what the metrics keep.
type Options struct {
	// MaxAgents is how many agents have series of their own, at most (0 means
	// DefaultMaxAgents). Hooks are written by tenants and may name any agent: the first
	// MaxAgents agents some Hook names that report something are counted under their own
	// names, the others under agent Other, and an agent's series go when no Hook names it.
	MaxAgents int
}

func (o Options) withDefaults() Options {
	if o.MaxAgents <= 0 {
		o.MaxAgents = DefaultMaxAgents
	}
	return o
}

// Metrics implements ports.Metrics, and the adapter-side counters other adapters report to,
// with Prometheus collectors. Make one with New.
type Metrics struct {
	received, matched, duplicates, firings *prometheus.CounterVec
	firingEntries                          prometheus.Gauge
	templateRefusals                       *prometheus.CounterVec
	suppressed                             *prometheus.CounterVec
	investigations                         *prometheus.GaugeVec

	sends         *prometheus.CounterVec
	sendDuration  *prometheus.HistogramVec
	investigation *prometheus.HistogramVec
	retries       *prometheus.CounterVec
	queueDepth    *prometheus.GaugeVec
	breaker       *prometheus.GaugeVec
	uncertain     *prometheus.CounterVec

	statusWrites   *prometheus.CounterVec
	sourceUp       *prometheus.GaugeVec
	sourceRestarts *prometheus.CounterVec
	auditDropped   prometheus.Counter
	webhookRefused *prometheus.CounterVec
	eventsDropped  *prometheus.CounterVec

	// series caches the counters of each (source, event type) seen, so that EventHandled finds
	// them with one map read and no lock. Writers copy the map under mu and swap it in.
	series atomic.Pointer[map[seriesKey]*eventSeries]
	mu     sync.Mutex
	// otherSeries counts the pairs beyond maxEventSeries; made at the first one.
	otherSeries    atomic.Pointer[eventSeries]
	maxEventSeries int
	agents         *agents // shared by every Metrics on the same collectors
}

type seriesKey struct {
	source string
	t      event.Type
}

type eventSeries struct{ received, matched, duplicates, firings prometheus.Counter }

var _ ports.Metrics = (*Metrics)(nil)

var (
	shared     *Metrics
	sharedErr  error
	sharedOnce sync.Once
)

// New returns the process's metrics, registered once on controller-runtime's registry (several
// managers in one process, as in tests, share them, and the bound the last one asked for).
func New(opts Options) (*Metrics, error) {
	sharedOnce.Do(func() { shared, sharedErr = NewWithRegistry(crmetrics.Registry, opts) })
	if sharedErr == nil {
		shared.agents.setMax(opts.withDefaults().MaxAgents)
	}
	return shared, sharedErr
}

// NewWithRegistry returns metrics registered on reg (an embedder's own registry, or a test's).
// Collectors reg already has under the same names are reused, with what they know of agents.
func NewWithRegistry(reg prometheus.Registerer, opts Options) (*Metrics, error) {
	opts = opts.withDefaults()
	m := &Metrics{maxEventSeries: MaxEventSeries}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	}
	m.received = counter("khook_events_received_total", "Events handed to the pipeline, by source and event type.", "source", "event_type")
	m.matched = counter("khook_events_matched_total", "Hook sightings: for each event, the number of Hooks it matched.", "event_type")
	m.duplicates = counter("khook_events_duplicate_total", "Hook sightings suppressed as duplicates of a firing entry.", "event_type")
	m.firings = counter("khook_firings_total", "New firings: entries that started firing, each of which its agents are told about.", "event_type")
	m.firingEntries = prometheus.NewGauge(prometheus.GaugeOpts{Name: "khook_firing_entries", Help: "Entries (hook, event key) firing now."})
	m.suppressed = counter("khook_incidents_suppressed_total", "Incidents that started no investigation, by reason (backlog, silenced, rate-limited, cooldown, inhibited).", "reason")
	m.investigations = gauge("khook_investigations", "Investigations khook holds, by phase (pending, working, completed, failed, input-required, lost, resolved, suppressed).", "phase")
	m.templateRefusals = counter("khook_template_refusals_total", "Prompts refused: at check time (refused), when rendering exceeded a budget (budget) or failed otherwise (error).", "reason")

	m.sends = counter("khook_agent_sends_total", "A2A sends finished, by agent and result (accepted, failed, permanent, uncertain).", "agent", "result")
	m.sendDuration = histogram("khook_agent_send_duration_seconds", "How long one A2A send exchange took.",
		[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}, "agent")
	m.investigation = histogram("khook_investigation_duration_seconds", "How long investigations took, from the send to the task's end, by agent and outcome.",
		[]float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200}, "agent", "outcome")
	m.retries = counter("khook_delivery_retries_total", "Delivery retries scheduled, by agent.", "agent")
	m.queueDepth = gauge("khook_agent_queue_depth", "Deliveries waiting for a slot, by agent.", "agent")
	m.breaker = gauge("khook_agent_breaker_state", "Circuit breaker state by agent: 0 closed, 1 half-open, 2 open.", "agent")
	m.uncertain = counter("khook_deliveries_uncertain_total", "Deliveries of which khook cannot know whether the agent was told, by agent and moment (restart: khook stopped during the send; timeout: the send timed out or its connection broke after the request went out).", "agent", "moment")

	m.statusWrites = counter("khook_status_writes_total", "Hook status writes, by result (written, unchanged, conflict, too-large, error).", "result")
	m.sourceUp = gauge("khook_source_up", "1 while the event source delivers events, 0 while it is down or restarting.", "source")
	m.sourceRestarts = counter("khook_source_restarts_total", "Event source restarts after a failure.", "source")
	m.auditDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "khook_audit_events_dropped_total", Help: "Audit Events khook did not record (queue full or write refused)."})
	m.eventsDropped = counter("khook_events_dropped_total", "Events a source dropped as untrustworthy before any work, by source and reason (cross-namespace).", "source", "reason")
	m.webhookRefused = counter("khook_webhook_refused_total", "Posts the Alertmanager webhook refused, by reason (unauthorized, body-too-large, too-many-alerts, rate-limited, malformed, timeout, busy).", "reason")

	if err := registerAll(reg, m); err != nil {
		return nil, err
	}
	m.agents = agentsOf(m, opts.MaxAgents)
	// Results and reasons known in advance exist at 0 from the start, so that a dashboard or an
	// alert on, say, conflicts reads 0 rather than "no data" until the first one.
	for _, result := range StatusWriteResults {
		m.statusWrites.WithLabelValues(result)
	}
	for _, reason := range TemplateRefusalReasons {
		m.templateRefusals.WithLabelValues(reason)
	}
	for _, reason := range SuppressionReasons {
		m.suppressed.WithLabelValues(reason)
	}
	for _, phase := range InvestigationPhases {
		m.investigations.WithLabelValues(phase)
	}
	for _, reason := range WebhookRefusalReasons {
		m.webhookRefused.WithLabelValues(reason)
	}
	for _, reason := range EventDropReasons {
		m.eventsDropped.WithLabelValues("kubernetes", reason)
	}
	empty := map[seriesKey]*eventSeries{}
	m.series.Store(&empty)
	return m, nil
}

// registerAll registers each collector of m on reg; where reg already has an equal collector
// (a second New on the same registry), m takes that one over so both count into one series.
func registerAll(reg prometheus.Registerer, m *Metrics) error {
	var errs []error
	reuse := func(c prometheus.Collector) prometheus.Collector {
		err := reg.Register(c)
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			return already.ExistingCollector
		}
		if err != nil {
			errs = append(errs, err)
		}
		return c
	}
	counters := []**prometheus.CounterVec{&m.received, &m.matched, &m.duplicates, &m.firings, &m.templateRefusals, &m.suppressed,
		&m.sends, &m.retries, &m.uncertain, &m.statusWrites, &m.sourceRestarts, &m.webhookRefused, &m.eventsDropped}
	for _, p := range counters {
		*p = reuse(*p).(*prometheus.CounterVec)
	}
	for _, p := range []**prometheus.HistogramVec{&m.sendDuration, &m.investigation} {
		*p = reuse(*p).(*prometheus.HistogramVec)
	}
	for _, p := range []**prometheus.GaugeVec{&m.queueDepth, &m.breaker, &m.sourceUp, &m.investigations} {
		*p = reuse(*p).(*prometheus.GaugeVec)
	}
	for _, p := range []*prometheus.Gauge{&m.firingEntries} {
		*p = reuse(*p).(prometheus.Gauge)
	}
	m.auditDropped = reuse(m.auditDropped).(prometheus.Counter)
	if len(errs) > 0 {
		return fmt.Errorf("registering khook metrics: %w", errors.Join(errs...))
	}
	return nil
}

// EventHandled records one event: it was received from source, matched `matched` hooks,
// started `firing` new firings and was a duplicate for `duplicates` of them. It is on the
// hot path: one map read, then atomic adds. A pair beyond MaxEventSeries counts under Other,
// without a lock either.
func (m *Metrics) EventHandled(source string, t event.Type, matched, firing, duplicates int) {
	series := *m.series.Load()
	s, ok := series[seriesKey{source, t}]
	if !ok {
		if len(series) >= m.maxEventSeries {
			s = m.other()
		} else {
			s = m.addSeries(source, t)
		}
	}
	s.received.Inc()
	if matched > 0 {
		s.matched.Add(float64(matched))
	}
	if firing > 0 {
		s.firings.Add(float64(firing))
	}
	if duplicates > 0 {
		s.duplicates.Add(float64(duplicates))
	}
}

// addSeries creates the counters of (source, t) and publishes a copy of the cache with them.
func (m *Metrics) addSeries(source string, t event.Type) *eventSeries {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.series.Load()
	key := seriesKey{source, t}
	if s, ok := old[key]; ok { // another goroutine added it meanwhile
		return s
	}
	if len(old) >= m.maxEventSeries {
		return m.otherLocked()
	}
	s := m.newEventSeries(source, string(t))
	next := make(map[seriesKey]*eventSeries, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[key] = s
	m.series.Store(&next)
	return s
}

func (m *Metrics) newEventSeries(source, t string) *eventSeries {
	return &eventSeries{
		received:   m.received.WithLabelValues(source, t),
		matched:    m.matched.WithLabelValues(t),
		duplicates: m.duplicates.WithLabelValues(t),
		firings:    m.firings.WithLabelValues(t),
	}
}

// other returns the counters of the pairs beyond maxEventSeries.
func (m *Metrics) other() *eventSeries {
	if s := m.otherSeries.Load(); s != nil {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.otherLocked()
}

// otherLocked is other for a caller holding m.mu.
func (m *Metrics) otherLocked() *eventSeries {
	if s := m.otherSeries.Load(); s != nil {
		return s
	}
	s := m.newEventSeries(Other, Other)
	m.otherSeries.Store(s)
	return s
}

// FiringEntries moves the gauge of entries firing now by delta.
func (m *Metrics) FiringEntries(delta int) { m.firingEntries.Add(float64(delta)) }

// TemplateRefused counts a prompt refused: "refused" at check time, "budget" or "error" at
// render time.
func (m *Metrics) TemplateRefused(reason string) { m.templateRefusals.WithLabelValues(reason).Inc() }

// IncidentSuppressed counts an incident that started no investigation; reason is one of
// SuppressionReasons.
func (m *Metrics) IncidentSuppressed(reason string) { m.suppressed.WithLabelValues(reason).Inc() }

// Investigations sets how many investigations khook holds, by phase.
func (m *Metrics) Investigations(c ports.InvestigationCounts) {
	for phase, n := range map[string]int{"pending": c.Pending, "working": c.Working, "completed": c.Completed, "failed": c.Failed,
		"input-required": c.InputRequired, "lost": c.Lost, "resolved": c.Resolved, "suppressed": c.Suppressed} {
		m.investigations.WithLabelValues(phase).Set(float64(n))
	}
}

// SendFinished records one A2A send exchange: result is accepted, failed, permanent or
// uncertain.
func (m *Metrics) SendFinished(agent hook.AgentRef, result string, took time.Duration) {
	a := m.agents.lock(agent.String())
	defer m.agents.mu.Unlock()
	m.sends.WithLabelValues(a, result).Inc()
	m.sendDuration.WithLabelValues(a).Observe(took.Seconds())
}

// InvestigationFinished records how an agent's task ended (completed, failed, rejected,
// canceled, input-required, auth-required, timed-out, lost) and how long it took.
func (m *Metrics) InvestigationFinished(agent hook.AgentRef, outcome string, took time.Duration) {
	a := m.agents.lock(agent.String())
	defer m.agents.mu.Unlock()
	m.investigation.WithLabelValues(a, outcome).Observe(took.Seconds())
}

// RetryScheduled counts a delivery retry scheduled for agent.
func (m *Metrics) RetryScheduled(agent hook.AgentRef) {
	a := m.agents.lock(agent.String())
	defer m.agents.mu.Unlock()
	m.retries.WithLabelValues(a).Inc()
}

// DeliveryUncertain counts a delivery of which khook cannot know whether agent was told, at
// moment ports.UncertainRestart or ports.UncertainTimeout.
func (m *Metrics) DeliveryUncertain(agent hook.AgentRef, moment string) {
	a := m.agents.lock(agent.String())
	defer m.agents.mu.Unlock()
	m.uncertain.WithLabelValues(a, moment).Inc()
}

// QueueDepth sets how many deliveries wait for a slot of agent. Under agent Other it is the sum
// over the agents counted there.
func (m *Metrics) QueueDepth(agent hook.AgentRef, depth int) {
	m.agents.gauge(agent.String(), float64(depth), &m.agents.depth)
}

// AgentUsed says that a Hook names agent, none did before.
func (m *Metrics) AgentUsed(agent hook.AgentRef) { m.agents.used(agent.String()) }

// AgentUnused says that no Hook names agent any more: its series are deleted and its place
// among the agents counted apart is free for another.
func (m *Metrics) AgentUnused(agent hook.AgentRef) { m.agents.unused(agent.String()) }

// StatusWrite counts a Hook status write: written, unchanged, conflict, too-large or error.
func (m *Metrics) StatusWrite(result string) { m.statusWrites.WithLabelValues(result).Inc() }

// BreakerState sets the circuit breaker state of agent (the "namespace/name" string): closed
// (0), half-open (1) or open (2). Any other state is shown as -1, so a new state is visible on
// the dashboard rather than mistaken for one of these. Under agent Other it is the worst state
// of the agents counted there.
func (m *Metrics) BreakerState(agent string, state string) {
	v, ok := breakerValues[state]
	if !ok {
		v = -1
	}
	m.agents.gauge(agent, v, &m.agents.breaker)
}

// SourceUp sets whether source delivers events.
func (m *Metrics) SourceUp(source string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.sourceUp.WithLabelValues(source).Set(v)
}

// SourceRestarted counts a restart of source after a failure.
func (m *Metrics) SourceRestarted(source string) { m.sourceRestarts.WithLabelValues(source).Inc() }

// AuditDropped counts an audit Event khook did not record.
func (m *Metrics) AuditDropped() { m.auditDropped.Inc() }

// EventDropReasons are the reasons khook_events_dropped_total counts, each present from start
// for the Kubernetes source.
var EventDropReasons = []string{"cross-namespace"}

// EventDropped counts an event source dropped before any work: reason is one of
// EventDropReasons.
func (m *Metrics) EventDropped(source, reason string) {
	m.eventsDropped.WithLabelValues(source, reason).Inc()
}

// WebhookRefused counts a post the Alertmanager webhook refused; reason is one of
// WebhookRefusalReasons.
func (m *Metrics) WebhookRefused(reason string) { m.webhookRefused.WithLabelValues(reason).Inc() }
