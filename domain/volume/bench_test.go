package volume_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/volume"
)

// BenchmarkSilencesMuting asks about one candidate among 1,000 silences. "every silence
// scanned": a Hook in a cluster event namespace, with 100 silences in each of 10 cluster event
// namespaces (the most a namespace holds), none holding it: every one is read. "own namespace
// among 1,000": a tenant's Hook, with 1,000 silences spread over 100 other namespaces and 10 in
// its own.
func BenchmarkSilencesMuting(b *testing.B) {
	cluster := make([]string, 10)
	for i := range cluster {
		cluster[i] = fmt.Sprintf("cluster-%d", i)
	}
	build := func(namespace func(i int) string) *volume.Silences {
		s := volume.NewSilences(cluster)
		for i := range 1000 {
			err := s.Upsert(silence(in(namespace(i), fmt.Sprintf("s%d", i)), matching(volume.Matchers{
				EventType: "pod-*", Hook: "*", SubjectKind: "Deployment", SubjectName: fmt.Sprintf("svc-%d-*", i),
				Selector: hook.Selector{MatchLabels: map[string]string{"tier": "critical"}},
			})))
			if err != nil {
				b.Fatal(err)
			}
		}
		return s
	}
	cases := []struct {
		name string
		s    *volume.Silences
		c    volume.Candidate
	}{
		{"every silence scanned", build(func(i int) string { return cluster[i%10] }), candidate(byHook("cluster-3", "h"), about("Deployment", "checkout"))},
		{"own namespace among 1,000", build(func(i int) string { return fmt.Sprintf("tenant-%d", i%100) }), candidate(byHook("tenant-7", "h"), about("Deployment", "checkout"))},
	}
	now := t0.Add(time.Hour)
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := bc.s.Muting(bc.c, now); ok {
					b.Fatal("held")
				}
			}
		})
	}
}

// BenchmarkBudgetsTake takes a token for one of 100 Hooks with a budget and its agent. Each
// bucket (10,000 an hour) is used 1% faster than it refills, so none is ever full (and
// forgotten) nor, within 100 million takes, empty: the steady state of busy Hooks.
func BenchmarkBudgetsTake(b *testing.B) {
	const limit, hooks = 10_000, 100
	bud := volume.NewBudgets(limit)
	cands := make([]volume.Candidate, hooks)
	for i := range cands {
		cands[i] = candidate(byHook("apps", fmt.Sprintf("h%d", i)), telling(fmt.Sprintf("kagent/a%d", i)))
	}
	step := time.Hour / limit * 99 / 100 / hooks
	now := t0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now = now.Add(step)
		if ok, why := bud.Take(cands[i%hooks], limit, now); !ok {
			b.Fatal(why)
		}
		i++
	}
}
