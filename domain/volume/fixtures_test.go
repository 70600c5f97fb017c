package volume_test

import (
	"time"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/volume"
)

// t0 is when the tests' clocks start.
var t0 = time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)

// candidate is a pod-restart of Deployment apps/checkout, labelled tier=critical, by Hook
// apps/prod-pods calling kagent/k8s-agent, changed by opts.
func candidate(opts ...func(*volume.Candidate)) volume.Candidate {
	c := volume.Candidate{
		Hook:      hook.Ref{Namespace: "apps", Name: "prod-pods"},
		EventType: event.PodRestart,
		Subject:   volume.Subject{Kind: "Deployment", Namespace: "apps", Name: "checkout"},
		Labels:    map[string]string{"app": "checkout", "tier": "critical"},
		Agents:    []hook.AgentRef{{Namespace: "kagent", Name: "k8s-agent"}},
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func byHook(namespace, name string) func(*volume.Candidate) {
	return func(c *volume.Candidate) { c.Hook = hook.Ref{Namespace: namespace, Name: name} }
}

func ofType(t event.Type) func(*volume.Candidate) {
	return func(c *volume.Candidate) { c.EventType = t }
}

func about(kind, name string) func(*volume.Candidate) {
	return func(c *volume.Candidate) { c.Subject.Kind, c.Subject.Name = kind, name }
}

func labelled(labels map[string]string) func(*volume.Candidate) {
	return func(c *volume.Candidate) { c.Labels = labels }
}

func telling(agents ...string) func(*volume.Candidate) {
	return func(c *volume.Candidate) {
		c.Agents = nil
		for _, a := range agents {
			ref, err := hook.ParseAgentID(a, "kagent")
			if err != nil {
				panic(err)
			}
			c.Agents = append(c.Agents, ref)
		}
	}
}

// silence is a Silence apps/maintenance with no matchers from t0 for 4 hours, changed by opts.
func silence(opts ...func(*volume.Silence)) volume.Silence {
	s := volume.Silence{Namespace: "apps", Name: "maintenance", UID: "u1", StartsAt: t0, EndsAt: t0.Add(4 * time.Hour)}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func in(namespace, name string) func(*volume.Silence) {
	return func(s *volume.Silence) { s.Namespace, s.Name = namespace, name }
}

func matching(m volume.Matchers) func(*volume.Silence) {
	return func(s *volume.Silence) { s.Matchers = m }
}

func during(start, end time.Time) func(*volume.Silence) {
	return func(s *volume.Silence) { s.StartsAt, s.EndsAt = start, end }
}
