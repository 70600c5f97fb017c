package metrics

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

func agentNamed(i int) hook.AgentRef {
	return hook.AgentRef{Namespace: fmt.Sprintf("team-%d", i%50), Name: fmt.Sprintf("agent-%d", i)}
}

// reportAll reports through every method with an agent label.
func reportAll(m *Metrics, a hook.AgentRef) {
	m.SendFinished(a, "accepted", time.Second)
	m.SendFinished(a, "failed", time.Second)
	m.InvestigationFinished(a, "completed", time.Minute)
	m.RetryScheduled(a)
	m.QueueDepth(a, 2)
	m.BreakerState(a.String(), BreakerOpen)
	m.DeliveryUncertain(a, ports.UncertainTimeout)
}

// agentValues is every value of the agent label a scrape of reg shows, with its series count.
func agentValues(t *testing.T, reg prometheus.Gatherer) map[string]int {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, f := range families {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "agent" {
					out[l.GetValue()]++
				}
			}
		}
	}
	return out
}

// scrapeSize is the size of /metrics in Prometheus's text format.
func scrapeSize(t *testing.T, reg prometheus.Gatherer) int {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Len()
}

// named returns metrics bounded to max agents, after n agents were named and reported.
func named(max, n int) (*Metrics, *prometheus.Registry) {
	reg := prometheus.NewPedanticRegistry()
	m, err := NewWithRegistry(reg, Options{MaxAgents: max})
	if err != nil {
		panic(err)
	}
	for i := range n {
		m.AgentUsed(agentNamed(i))
		reportAll(m, agentNamed(i))
	}
	return m, reg
}

// The attack: Hooks naming 1,000 agents added 34,000 series (/metrics 95 KB → 10.7 MB).
// With the bound, the agent label has at most MaxAgents+1 values, /metrics is as large as with
// MaxAgents+1 agents, and no report is lost: the rest count under "other".
func TestAThousandAgentsAddNoMoreThanMaxAgentsPlusOneAgentLabels(t *testing.T) {
	const maxAgents, agents = 10, 1000
	bounded := func(n int) (*Metrics, *prometheus.Registry) { return named(maxAgents, n) }
	m, reg := bounded(agents)
	values := agentValues(t, reg)
	if len(values) != maxAgents+1 || values[Other] == 0 {
		t.Fatalf("the agent label has %d values (%v), want %d agents and %q", len(values), values, maxAgents, Other)
	}
	_, few := bounded(maxAgents + 1)
	size, fewSize := scrapeSize(t, reg), scrapeSize(t, few)
	if size > fewSize+1024 {
		t.Fatalf("/metrics is %d bytes with %d agents, %d with %d: the scrape grows with the agents", size, agents, fewSize, maxAgents+1)
	}
	_, unbounded := named(agents, agents)
	t.Logf("/metrics: %d bytes with %d agents named, %d with %d; %d if each had series of its own", size, agents, fewSize, maxAgents+1, scrapeSize(t, unbounded))

	var sends float64
	for v := range values {
		sends += testutil.ToFloat64(m.sends.WithLabelValues(v, "accepted"))
	}
	if sends != agents {
		t.Fatalf("accepted sends over every agent label = %v, want %d: reports were lost", sends, agents)
	}
	if got, want := testutil.ToFloat64(m.queueDepth.WithLabelValues(Other)), float64(2*(agents-maxAgents)); got != want {
		t.Fatalf("queue depth under %q = %v, want the sum of its agents' depths, %v", Other, got, want)
	}
	if got := testutil.ToFloat64(m.breaker.WithLabelValues(Other)); got != 2 {
		t.Fatalf("breaker state under %q = %v, want 2 (open: the worst of its agents)", Other, got)
	}
}

// An agent's series live as long as a Hook names it; its place among the agents counted apart is
// then free for another.
func TestAnAgentNoHookNamesLosesItsSeriesAndItsPlace(t *testing.T) {
	a, b, c := agentNamed(1), agentNamed(2), agentNamed(3)
	tests := []struct {
		name string
		max  int
		run  func(m *Metrics)
		// want is the number of series of each agent label value a scrape shows; a value not
		// listed must have none.
		want map[string]int
	}{
		{"an agent a Hook names is counted under its own name", 10,
			func(m *Metrics) { m.AgentUsed(a); reportAll(m, a) },
			map[string]int{a.String(): 8}},
		{"when no Hook names it any more, every series of the agent is gone", 10,
			func(m *Metrics) { m.AgentUsed(a); reportAll(m, a); m.AgentUnused(a) },
			map[string]int{}},
		{"a report after its last Hook went counts under other and brings no series back", 10,
			func(m *Metrics) {
				m.AgentUsed(a)
				reportAll(m, a)
				m.AgentUnused(a)
				m.InvestigationFinished(a, "completed", time.Minute) // a task followed to its end
				m.SendFinished(a, "accepted", time.Second)           // a send that was under way
				m.QueueDepth(a, 0)
				m.BreakerState(a.String(), BreakerClosed)
			},
			map[string]int{Other: 3}}, // investigation, sends, send duration; no gauge of an agent no Hook names
		{"an agent no Hook ever named counts under other", 10,
			func(m *Metrics) { m.RetryScheduled(a) },
			map[string]int{Other: 1}},
		{"an agent beyond the bound counts under other", 1,
			func(m *Metrics) {
				m.AgentUsed(a)
				m.AgentUsed(b)
				m.RetryScheduled(a)
				m.RetryScheduled(b)
			},
			map[string]int{a.String(): 1, Other: 1}},
		{"the place an agent leaves goes to the next agent that reports", 1,
			func(m *Metrics) {
				m.AgentUsed(a)
				m.AgentUsed(b)
				m.RetryScheduled(a)
				m.RetryScheduled(b)
				m.AgentUnused(a)
				m.RetryScheduled(b)
			},
			map[string]int{b.String(): 1, Other: 1}},
		{"agents take places as they report, not as Hooks name them", 1,
			func(m *Metrics) {
				m.AgentUsed(a) // named, silent
				m.AgentUsed(b)
				m.RetryScheduled(b)
			},
			map[string]int{b.String(): 1}},
		{"an agent two Hook indexes name keeps its series until both let it go", 10,
			func(m *Metrics) {
				m.AgentUsed(a)
				m.AgentUsed(a)
				reportAll(m, a)
				m.AgentUnused(a)
			},
			map[string]int{a.String(): 8}},
		{"an agent under other leaves other's gauges with its last Hook", 1,
			func(m *Metrics) {
				m.AgentUsed(c)
				m.RetryScheduled(c) // takes the one place
				m.AgentUsed(a)
				m.AgentUsed(b)
				m.QueueDepth(a, 3)
				m.QueueDepth(b, 4)
				m.BreakerState(b.String(), BreakerOpen)
				m.AgentUnused(b)
			},
			map[string]int{c.String(): 1, Other: 2}}, // other: queue depth 3 (a's), breaker 0
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			m, err := NewWithRegistry(reg, Options{MaxAgents: tt.max})
			if err != nil {
				t.Fatal(err)
			}
			tt.run(m)
			got := agentValues(t, reg)
			if len(got) != len(tt.want) {
				t.Fatalf("agent label values = %v, want %v", got, tt.want)
			}
			for v, n := range tt.want {
				if got[v] != n {
					t.Fatalf("agent label values = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestGaugesUnderOtherCombineItsAgents(t *testing.T) {
	a, b, c, d := agentNamed(1), agentNamed(2), agentNamed(3), agentNamed(4)
	tests := []struct {
		name      string
		run       func(m *Metrics)
		gauge     func(m *Metrics) *prometheus.GaugeVec
		label     string
		wantValue float64
	}{
		{"queue depths under other add up", func(m *Metrics) { m.QueueDepth(b, 3); m.QueueDepth(c, 4) },
			func(m *Metrics) *prometheus.GaugeVec { return m.queueDepth }, Other, 7},
		{"an agent's queue depth under other is its last one", func(m *Metrics) { m.QueueDepth(b, 3); m.QueueDepth(b, 1); m.QueueDepth(c, 4) },
			func(m *Metrics) *prometheus.GaugeVec { return m.queueDepth }, Other, 5},
		{"the worst breaker state under other shows", func(m *Metrics) {
			m.BreakerState(b.String(), BreakerHalfOpen)
			m.BreakerState(c.String(), BreakerOpen)
			m.BreakerState(d.String(), BreakerClosed)
		}, func(m *Metrics) *prometheus.GaugeVec { return m.breaker }, Other, 2},
		{"breakers under other closing again read closed", func(m *Metrics) {
			m.BreakerState(b.String(), BreakerOpen)
			m.BreakerState(b.String(), BreakerClosed)
		}, func(m *Metrics) *prometheus.GaugeVec { return m.breaker }, Other, 0},
		{"an agent given its own place takes its gauges from other", func(m *Metrics) {
			m.QueueDepth(b, 3)
			m.QueueDepth(c, 4)
			m.AgentUnused(a) // a's place is free
			m.RetryScheduled(b)
		}, func(m *Metrics) *prometheus.GaugeVec { return m.queueDepth }, b.String(), 3},
		{"and other no longer counts them", func(m *Metrics) {
			m.QueueDepth(b, 3)
			m.QueueDepth(c, 4)
			m.AgentUnused(a)
			m.RetryScheduled(b)
		}, func(m *Metrics) *prometheus.GaugeVec { return m.queueDepth }, Other, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewWithRegistry(prometheus.NewPedanticRegistry(), Options{MaxAgents: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range []hook.AgentRef{a, b, c, d} {
				m.AgentUsed(x)
			}
			m.RetryScheduled(a) // a takes the one place
			tt.run(m)
			if got := testutil.ToFloat64(tt.gauge(m).WithLabelValues(tt.label)); got != tt.wantValue {
				t.Fatalf("%s = %v, want %v", tt.label, got, tt.wantValue)
			}
		})
	}
}

// Reports racing the last Hook's removal never leave a series of the agent behind.
func TestNoSeriesOutlivesTheAgentsLastHookWhateverTheInterleaving(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := NewWithRegistry(reg, Options{MaxAgents: 3})
	if err != nil {
		t.Fatal(err)
	}
	agents := []hook.AgentRef{agentNamed(1), agentNamed(2), agentNamed(3), agentNamed(4), agentNamed(5)}
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Go(func() {
			for range 200 {
				m.AgentUsed(a)
				m.AgentUnused(a)
			}
		})
		wg.Go(func() {
			for range 200 {
				reportAll(m, a)
			}
		})
	}
	wg.Wait()
	for v := range agentValues(t, reg) {
		if v != Other {
			t.Fatalf("agent %s has series, though no Hook names it", v)
		}
	}
	if n := len(m.agents.own); n != 0 {
		t.Fatalf("%d agents hold a place, though no Hook names any", n)
	}
}

func TestTwoMetricsOnOneRegistryAgreeOnTheAgents(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	a, err := NewWithRegistry(reg, Options{MaxAgents: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewWithRegistry(reg, Options{MaxAgents: 1})
	if err != nil {
		t.Fatal(err)
	}
	a.AgentUsed(agentNamed(1))
	b.AgentUsed(agentNamed(2))
	b.RetryScheduled(agentNamed(1)) // a's agent, reported through b: known to both
	a.RetryScheduled(agentNamed(2)) // beyond the one place the two share
	values := agentValues(t, reg)
	if len(values) != 2 || values[agentNamed(1).String()] != 1 || values[Other] != 1 {
		t.Fatalf("agent label values = %v, want %s and %s", values, agentNamed(1), Other)
	}
	a.AgentUnused(agentNamed(1))
	if values := agentValues(t, reg); values[agentNamed(1).String()] != 0 {
		t.Fatalf("agent label values = %v after the agent went out of use", values)
	}
}

// Pairs of source and event type beyond MaxEventSeries count under other, and the storm path
// stays free of allocations for them too.
func TestEventPairsBeyondTheBoundCountUnderOther(t *testing.T) {
	m, reg := newMetrics(t)
	m.maxEventSeries = 5
	for i := range 100 {
		m.EventHandled(fmt.Sprintf("source-%d", i%3), event.Type(fmt.Sprintf("type-%d", i)), 1, 0, 1)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var received float64
	for _, f := range families {
		if f.GetName() != "khook_events_received_total" {
			continue
		}
		if n := len(f.GetMetric()); n != 6 {
			t.Fatalf("khook_events_received_total has %d series, want the 5 pairs and %q", n, Other)
		}
		for _, s := range f.GetMetric() {
			received += s.GetCounter().GetValue()
		}
	}
	if received != 100 {
		t.Fatalf("received = %v, want 100: events were lost", received)
	}
	if got := testutil.ToFloat64(m.duplicates.WithLabelValues(Other)); got != 95 {
		t.Fatalf("duplicates under %q = %v, want 95", Other, got)
	}
	if raceEnabled {
		return
	}
	if allocs := testing.AllocsPerRun(1000, func() { m.EventHandled("made-up", "type-never-seen", 1, 0, 1) }); allocs != 0 {
		t.Fatalf("EventHandled of a pair beyond the bound allocated %v times per call", allocs)
	}
}
