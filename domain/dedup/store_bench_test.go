package dedup_test

import (
	"fmt"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/event"
)

// BenchmarkObserveDuplicate is the common case under an event storm: a repeat of trouble
// already firing, with 10,000 keys held.
func BenchmarkObserveDuplicate(b *testing.B) {
	s := dedup.NewStore(clocktesting.NewFakeClock(start), 10*time.Minute)
	for i := 0; i < 10000; i++ {
		e := crash
		e.ResourceName = fmt.Sprintf("pod-%d", i)
		s.Observe(ref, e)
	}
	s.Observe(ref, crash)
	b.ReportAllocs()
	for b.Loop() {
		if s.Observe(ref, crash).Outcome != dedup.Duplicate {
			b.Fatal("want a duplicate")
		}
	}
}

// BenchmarkObserveParallel measures contention: every core observing repeats of distinct keys.
func BenchmarkObserveParallel(b *testing.B) {
	s := dedup.NewStore(clocktesting.NewFakeClock(start), 10*time.Minute)
	keys := make([]event.Event, 10000)
	for i := range keys {
		keys[i] = crash
		keys[i].ResourceName = fmt.Sprintf("pod-%d", i)
		s.Observe(ref, keys[i])
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			s.Observe(ref, keys[i%len(keys)])
			i++
		}
	})
}
