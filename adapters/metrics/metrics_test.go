package metrics

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

var agent = hook.AgentRef{Namespace: "kagent", Name: "k8s-agent"}

func newMetrics(t testing.TB) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := NewWithRegistry(reg, Options{})
	if err != nil {
		t.Fatalf("NewWithRegistry: %v", err)
	}
	m.AgentUsed(agent) // a Hook names it
	return m, reg
}

func TestEachCallCountsIntoItsSeries(t *testing.T) {
	tests := []struct {
		name   string
		record func(m *Metrics)
		// series is the collector and label values to read; want its value afterwards.
		series func(m *Metrics) prometheus.Collector
		want   float64
	}{
		{"an event counts as received once, under its source and type",
			func(m *Metrics) { m.EventHandled("kubernetes", event.PodRestart, 2, 1, 1) },
			func(m *Metrics) prometheus.Collector {
				return m.received.WithLabelValues("kubernetes", "pod-restart")
			}, 1},
		{"an event matching two hooks counts two sightings",
			func(m *Metrics) { m.EventHandled("kubernetes", event.PodRestart, 2, 1, 1) },
			func(m *Metrics) prometheus.Collector { return m.matched.WithLabelValues("pod-restart") }, 2},
		{"new firings are counted by event type",
			func(m *Metrics) {
				m.EventHandled("kubernetes", event.OOMKill, 3, 2, 1)
				m.EventHandled("alertmanager", event.OOMKill, 1, 1, 0)
			},
			func(m *Metrics) prometheus.Collector { return m.firings.WithLabelValues("oom-kill") }, 3},
		{"duplicate sightings are counted by event type",
			func(m *Metrics) {
				m.EventHandled("kubernetes", event.PodPending, 1, 0, 1)
				m.EventHandled("kubernetes", event.PodPending, 1, 0, 1)
			},
			func(m *Metrics) prometheus.Collector { return m.duplicates.WithLabelValues("pod-pending") }, 2},
		{"an unmatched event is received but neither matched, firing nor duplicate",
			func(m *Metrics) { m.EventHandled("kubernetes", event.ProbeFailed, 0, 0, 0) },
			func(m *Metrics) prometheus.Collector {
				return m.received.WithLabelValues("kubernetes", "probe-failed")
			}, 1},
		{"firing entries go up and down with the deltas",
			func(m *Metrics) { m.FiringEntries(3); m.FiringEntries(-1) },
			func(m *Metrics) prometheus.Collector { return m.firingEntries }, 2},
		{"template refusals are counted by reason",
			func(m *Metrics) {
				m.TemplateRefused("budget")
				m.TemplateRefused("refused")
				m.TemplateRefused("budget")
			},
			func(m *Metrics) prometheus.Collector { return m.templateRefusals.WithLabelValues("budget") }, 2},
		{"a send is counted by agent and result",
			func(m *Metrics) {
				m.SendFinished(agent, "accepted", time.Second)
				m.SendFinished(agent, "failed", time.Second)
			},
			func(m *Metrics) prometheus.Collector { return m.sends.WithLabelValues("kagent/k8s-agent", "accepted") }, 1},
		{"uncertain deliveries are counted by agent and moment",
			func(m *Metrics) {
				m.DeliveryUncertain(agent, ports.UncertainRestart)
				m.DeliveryUncertain(agent, ports.UncertainTimeout)
				m.DeliveryUncertain(agent, ports.UncertainTimeout)
			},
			func(m *Metrics) prometheus.Collector {
				return m.uncertain.WithLabelValues("kagent/k8s-agent", "timeout")
			}, 2},
		{"retries are counted by agent",
			func(m *Metrics) { m.RetryScheduled(agent); m.RetryScheduled(agent) },
			func(m *Metrics) prometheus.Collector { return m.retries.WithLabelValues("kagent/k8s-agent") }, 2},
		{"the queue depth is the last one reported",
			func(m *Metrics) { m.QueueDepth(agent, 5); m.QueueDepth(agent, 3) },
			func(m *Metrics) prometheus.Collector { return m.queueDepth.WithLabelValues("kagent/k8s-agent") }, 3},
		{"an open breaker reads 2",
			func(m *Metrics) { m.BreakerState("kagent/k8s-agent", BreakerOpen) },
			func(m *Metrics) prometheus.Collector { return m.breaker.WithLabelValues("kagent/k8s-agent") }, 2},
		{"a half-open breaker reads 1",
			func(m *Metrics) { m.BreakerState("kagent/k8s-agent", BreakerHalfOpen) },
			func(m *Metrics) prometheus.Collector { return m.breaker.WithLabelValues("kagent/k8s-agent") }, 1},
		{"a breaker closing again reads 0",
			func(m *Metrics) {
				m.BreakerState("kagent/k8s-agent", BreakerOpen)
				m.BreakerState("kagent/k8s-agent", BreakerClosed)
			},
			func(m *Metrics) prometheus.Collector { return m.breaker.WithLabelValues("kagent/k8s-agent") }, 0},
		{"a breaker state nobody knows reads -1 rather than passing for closed",
			func(m *Metrics) { m.BreakerState("kagent/k8s-agent", "melted") },
			func(m *Metrics) prometheus.Collector { return m.breaker.WithLabelValues("kagent/k8s-agent") }, -1},
		{"status write conflicts are counted apart from writes",
			func(m *Metrics) { m.StatusWrite("written"); m.StatusWrite("conflict"); m.StatusWrite("written") },
			func(m *Metrics) prometheus.Collector { return m.statusWrites.WithLabelValues("conflict") }, 1},
		{"a source that went down reads 0",
			func(m *Metrics) { m.SourceUp("alertmanager", true); m.SourceUp("alertmanager", false) },
			func(m *Metrics) prometheus.Collector { return m.sourceUp.WithLabelValues("alertmanager") }, 0},
		{"a source that is up reads 1",
			func(m *Metrics) { m.SourceUp("kubernetes", true) },
			func(m *Metrics) prometheus.Collector { return m.sourceUp.WithLabelValues("kubernetes") }, 1},
		{"source restarts are counted by source",
			func(m *Metrics) { m.SourceRestarted("prometheus") },
			func(m *Metrics) prometheus.Collector { return m.sourceRestarts.WithLabelValues("prometheus") }, 1},
		{"dropped audit Events are counted",
			func(m *Metrics) { m.AuditDropped(); m.AuditDropped() },
			func(m *Metrics) prometheus.Collector { return m.auditDropped }, 2},
		{"posts the webhook refused are counted by reason",
			func(m *Metrics) {
				m.WebhookRefused("rate-limited")
				m.WebhookRefused("unauthorized")
				m.WebhookRefused("rate-limited")
			},
			func(m *Metrics) prometheus.Collector { return m.webhookRefused.WithLabelValues("rate-limited") }, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newMetrics(t)
			tt.record(m)
			if got := testutil.ToFloat64(tt.series(m)); got != tt.want {
				t.Fatalf("value = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKnownResultsAndReasonsAreScrapedAsZeroBeforeTheFirstOne(t *testing.T) {
	tests := []struct {
		name, family, label, value string
	}{
		{"status write conflicts", "khook_status_writes_total", "result", "conflict"},
		{"status write errors", "khook_status_writes_total", "result", "error"},
		{"status writes", "khook_status_writes_total", "result", "written"},
		{"template refusals at check time", "khook_template_refusals_total", "reason", "refused"},
		{"template refusals by a budget", "khook_template_refusals_total", "reason", "budget"},
		{"webhook posts refused without the token", "khook_webhook_refused_total", "reason", "unauthorized"},
		{"webhook posts refused for the rate", "khook_webhook_refused_total", "reason", "rate-limited"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" are scraped as 0 before any", func(t *testing.T) {
			_, reg := newMetrics(t) // nothing recorded
			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range families {
				if f.GetName() != tt.family {
					continue
				}
				for _, s := range f.GetMetric() {
					for _, l := range s.GetLabel() {
						if l.GetName() == tt.label && l.GetValue() == tt.value {
							if v := s.GetCounter().GetValue(); v != 0 {
								t.Fatalf("%s{%s=%q} = %v, want 0", tt.family, tt.label, tt.value, v)
							}
							return
						}
					}
				}
			}
			t.Fatalf("a scrape has no %s{%s=%q}", tt.family, tt.label, tt.value)
		})
	}
}

func TestDurationsAreObservedInSeconds(t *testing.T) {
	m, reg := newMetrics(t)
	m.SendFinished(agent, "accepted", 1500*time.Millisecond)
	m.InvestigationFinished(agent, "completed", 3*time.Minute)
	m.InvestigationFinished(agent, "timed-out", time.Hour)
	want := `
# HELP khook_agent_send_duration_seconds How long one A2A send exchange took.
# TYPE khook_agent_send_duration_seconds histogram
khook_agent_send_duration_seconds_bucket{agent="kagent/k8s-agent",le="0.005"} 0
khook_agent_send_duration_seconds_bucket{agent="kagent/k8s-agent",le="0.01"} 0
khook_agent_send_duration_seconds_bucket{agent="kagent/k8s-agent",le="0.025"} 0
khook_agent_send_duration_seconds_bucket{agent="kagent/k8s-agent",le="0.05"} 0
khook_agent_send_duration_seconds_bucket{agent="kagent/k8s-agent",le="0.1"} 0
khook_agent_send_duration_seconds_bucket{agent="kagent/k8s-agent",le="0.25"} 0
khook_agent_send_duration_seconds_bucket{agent="kagent/k8s-agent",le="0.5"} 0
khook_agent_send_duration_seconds_bucket{agent="kagent/k8s-agent",le="1"} 0
khook_agent_send_duration_seconds_bucket{agent="kagent/k8s-agent",le="2.5"} 1
khook_agent_send_duration_seconds_bucket{agent="kagent/k8s-agent",le="5"} 1
khook_agent_send_duration_seconds_bucket{agent="kagent/k8s-agent",le="10"} 1
khook_agent_send_duration_seconds_bucket{agent="kagent/k8s-agent",le="30"} 1
khook_agent_send_duration_seconds_bucket{agent="kagent/k8s-agent",le="60"} 1
khook_agent_send_duration_seconds_bucket{agent="kagent/k8s-agent",le="+Inf"} 1
khook_agent_send_duration_seconds_sum{agent="kagent/k8s-agent"} 1.5
khook_agent_send_duration_seconds_count{agent="kagent/k8s-agent"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "khook_agent_send_duration_seconds"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.investigation); n != 2 {
		t.Fatalf("investigation series = %d, want one per outcome (2)", n)
	}
}

func TestTheMetricsFollowPrometheusNamingRules(t *testing.T) {
	m, reg := newMetrics(t)
	touchEverySeries(m)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "khook_") {
			t.Errorf("%s lacks the khook_ prefix", f.GetName())
		}
	}
}

// touchEverySeries records once through every method, so that each vector has a sample.
func touchEverySeries(m *Metrics) {
	m.EventHandled("kubernetes", event.PodRestart, 1, 1, 0)
	m.TemplateRefused("refused")
	m.SendFinished(agent, "accepted", time.Second)
	m.InvestigationFinished(agent, "completed", time.Minute)
	m.RetryScheduled(agent)
	m.QueueDepth(agent, 1)
	m.BreakerState(agent.String(), BreakerClosed)
	m.DeliveryUncertain(agent, ports.UncertainTimeout)
	m.StatusWrite("written")
	m.SourceUp("kubernetes", true)
	m.SourceRestarted("kubernetes")
	m.AuditDropped()
	m.WebhookRefused("unauthorized")
	m.FiringEntries(1)
}

func TestTwoMetricsOnOneRegistryCountIntoTheSameSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NewWithRegistry(reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewWithRegistry(reg, Options{})
	if err != nil {
		t.Fatalf("a second NewWithRegistry on the same registry: %v", err)
	}
	a.StatusWrite("written")
	b.StatusWrite("written")
	a.EventHandled("kubernetes", event.PodRestart, 1, 0, 0)
	b.EventHandled("kubernetes", event.PodRestart, 1, 0, 0)
	if got := testutil.ToFloat64(a.statusWrites.WithLabelValues("written")); got != 2 {
		t.Fatalf("status writes = %v, want 2", got)
	}
	if got := testutil.ToFloat64(a.received.WithLabelValues("kubernetes", "pod-restart")); got != 2 {
		t.Fatalf("received = %v, want 2", got)
	}
}

func TestNewReturnsTheProcesssMetrics(t *testing.T) {
	a, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{})
	if err != nil || a != b {
		t.Fatalf("New() = %p, %v; want the same metrics as before (%p)", b, err, a)
	}
}

func TestEventHandledFromManyGoroutinesLosesNoCount(t *testing.T) {
	m, _ := newMetrics(t)
	const goroutines, perGoroutine = 8, 500
	types := []event.Type{event.PodRestart, event.OOMKill, event.PodPending, event.ProbeFailed}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			source := fmt.Sprintf("source-%d", g%2) // new series appear while others count
			for i := range perGoroutine {
				m.EventHandled(source, types[i%len(types)], 1, 0, 1)
			}
		})
	}
	wg.Wait()
	var received, duplicates float64
	for _, s := range []string{"source-0", "source-1"} {
		for _, typ := range types {
			received += testutil.ToFloat64(m.received.WithLabelValues(s, string(typ)))
		}
	}
	for _, typ := range types {
		duplicates += testutil.ToFloat64(m.duplicates.WithLabelValues(string(typ)))
	}
	if received != goroutines*perGoroutine || duplicates != goroutines*perGoroutine {
		t.Fatalf("received %v, duplicates %v; want %d each", received, duplicates, goroutines*perGoroutine)
	}
}

func TestEventHandledAllocatesNothingOnceASeriesExists(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates; BenchmarkEventHandled shows the number")
	}
	m, _ := newMetrics(t)
	m.EventHandled("kubernetes", event.PodRestart, 1, 1, 0)
	source, typ := "kubernetes", event.PodRestart
	if allocs := testing.AllocsPerRun(1000, func() { m.EventHandled(source, typ, 2, 0, 2) }); allocs != 0 {
		t.Fatalf("EventHandled allocated %v times per call", allocs)
	}
}

// BenchmarkEventHandled is an event storm's cost per event: b.ReportAllocs must show 0 allocs,
// and the parallel run must scale (no lock on the way).
func BenchmarkEventHandled(b *testing.B) {
	m, _ := newMetrics(b)
	for _, s := range []string{"kubernetes", "alertmanager", "prometheus"} {
		for _, typ := range []event.Type{event.PodRestart, event.OOMKill, event.PodPending, event.ProbeFailed} {
			m.EventHandled(s, typ, 0, 0, 0)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.EventHandled("kubernetes", event.PodRestart, 1, 0, 1)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.EventHandled("kubernetes", event.OOMKill, 1, 0, 1)
			}
		})
	})
}
