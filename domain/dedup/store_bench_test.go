package dedup_test

import (
	"fmt"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/domain/dedup"
)

// BenchmarkObserveDuplicate is the common case under an event storm: a repeat of trouble
// already notified, with 10,000 keys held.
func BenchmarkObserveDuplicate(b *testing.B) {
	s := dedup.NewStore(clocktesting.NewFakeClock(start), 10*time.Minute)
	for i := 0; i < 10000; i++ {
		e := crash
		e.ResourceName = fmt.Sprintf("pod-%d", i)
		s.Observe(ref, e)
		s.Settle(ref, e.Key(), []string{"apps/agent"}, true)
	}
	s.Observe(ref, crash)
	s.Settle(ref, crash.Key(), []string{"apps/agent"}, true)
	b.ReportAllocs()
	for b.Loop() {
		if s.Observe(ref, crash).Outcome != dedup.Duplicate {
			b.Fatal("want a duplicate")
		}
	}
}

// BenchmarkObserveParallel measures contention: every core observing repeats at once.
func BenchmarkObserveParallel(b *testing.B) {
	s := dedup.NewStore(clocktesting.NewFakeClock(start), 10*time.Minute)
	s.Observe(ref, crash)
	s.Settle(ref, crash.Key(), []string{"apps/agent"}, true)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Observe(ref, crash)
		}
	})
}
