package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// agents decides under which agent label a report counts, so that the agent label, whose values
// tenants choose (a Hook may name any agent), has at most max+1 values:
//
//   - an agent some Hook names (AgentUsed, not yet AgentUnused) is counted under its own name
//     from its first report on, while fewer than max agents are;
//   - any other report counts under Other: an agent beyond the bound, or one no Hook names any
//     more (a task followed to its end after its Hook was deleted). A gauge under Other
//     combines the agents in use counted there (queue depths add up, the worst breaker state
//     shows); a gauge of an agent no Hook names is nobody's concern and is not kept;
//   - when no Hook names an agent any more, its series are deleted and its place is free.
//
// Every method takes mu, and holds it while it touches a vector, so that no report can bring
// back a series AgentUnused has just deleted. None of this is on the event path.
type agents struct {
	mu             sync.Mutex
	max            int
	inUse          map[string]int  // agent → how many Hook indexes name it (AgentUsed minus AgentUnused)
	own            map[string]bool // agents counted under their own name; at most max
	depth, breaker folded
	// vectors are every vector with an agent label, for deleting an agent's series.
	vectors []interface {
		DeletePartialMatch(prometheus.Labels) int
	}
}

// folded is a gauge's value under Other: what each agent in use counted there last reported
// (zeros are not kept), combined.
type folded struct {
	vec     *prometheus.GaugeVec
	values  map[string]float64
	combine func(map[string]float64) float64
}

var (
	sharedAgentsMu sync.Mutex
	// sharedAgents is the agents of each set of registered collectors, by its sends vector:
	// two Metrics on one registry count into the same series, so they must agree on the labels.
	sharedAgents = map[*prometheus.CounterVec]*agents{}
)

// agentsOf returns the agents of m's collectors, made at the first call.
func agentsOf(m *Metrics, max int) *agents {
	sharedAgentsMu.Lock()
	defer sharedAgentsMu.Unlock()
	if a, ok := sharedAgents[m.sends]; ok {
		return a
	}
	a := &agents{
		max: max, inUse: map[string]int{}, own: map[string]bool{},
		depth:   folded{vec: m.queueDepth, values: map[string]float64{}, combine: sum},
		breaker: folded{vec: m.breaker, values: map[string]float64{}, combine: worst},
		vectors: []interface {
			DeletePartialMatch(prometheus.Labels) int
		}{m.sends, m.sendDuration, m.investigation, m.retries, m.uncertain, m.queueDepth, m.breaker},
	}
	sharedAgents[m.sends] = a
	return a
}

func (s *agents) setMax(max int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.max = max // agents counted apart stay so; the new bound applies to the next ones
}

// lock takes mu and returns the label agent's report counts under; the caller unlocks.
func (s *agents) lock(agent string) string {
	s.mu.Lock()
	return s.label(agent)
}

// label is the label agent's reports count under. The caller holds mu.
func (s *agents) label(agent string) string {
	if s.own[agent] {
		return agent
	}
	if s.inUse[agent] == 0 || len(s.own) >= s.max {
		return Other
	}
	s.own[agent] = true
	// What agent's gauges said under Other is now said under its name.
	for _, f := range []*folded{&s.depth, &s.breaker} {
		if v, ok := f.forget(agent); ok {
			f.vec.WithLabelValues(agent).Set(v)
		}
	}
	return agent
}

// gauge sets agent's value of gauge f.
func (s *agents) gauge(agent string, v float64, f *folded) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch label := s.label(agent); {
	case label != Other:
		f.vec.WithLabelValues(label).Set(v)
	case s.inUse[agent] > 0:
		if v == 0 {
			delete(f.values, agent)
		} else {
			f.values[agent] = v
		}
		f.vec.WithLabelValues(Other).Set(f.combine(f.values))
	}
}

func (s *agents) used(agent string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inUse[agent]++
}

func (s *agents) unused(agent string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.inUse[agent] - 1; n > 0 {
		s.inUse[agent] = n
		return
	}
	delete(s.inUse, agent)
	if s.own[agent] {
		delete(s.own, agent)
		for _, v := range s.vectors {
			v.DeletePartialMatch(prometheus.Labels{"agent": agent})
		}
	}
	s.depth.forget(agent)
	s.breaker.forget(agent)
}

// forget takes agent's value out of f, and says what it was.
func (f *folded) forget(agent string) (float64, bool) {
	v, ok := f.values[agent]
	if ok {
		delete(f.values, agent)
		f.vec.WithLabelValues(Other).Set(f.combine(f.values))
	}
	return v, ok
}

func sum(values map[string]float64) float64 {
	total := 0.0
	for _, v := range values {
		total += v
	}
	return total
}

// worst is the highest breaker state of values (open over half-open), 0 (closed) for none.
func worst(values map[string]float64) float64 {
	w, first := 0.0, true
	for _, v := range values {
		if first || v > w {
			w, first = v, false
		}
	}
	return w
}
