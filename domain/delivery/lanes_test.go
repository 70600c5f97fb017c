package delivery_test

import (
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/delivery"
)

// Every way a slot of an agent's lane is freed must let the next firing waiting for that agent
// go at once, whichever Hook it belongs to: nothing else may be needed to wake the lane.
func TestEveryFreedSlotLetsTheNextFiringOfItsAgentGo(t *testing.T) {
	web1 := firing(hookX, "web-1")
	tests := []struct {
		name      string
		guarantee delivery.Guarantee
		// free frees hook x's slot of agent A in its own way.
		free func(f *fixture)
	}{
		{"deleting a Hook whose task is at work frees its investigation slot", delivery.AtLeastOnce,
			func(f *fixture) { f.engine.Drop(hookX) }},
		{"deleting a Hook whose send waits for its intent frees its send slot", delivery.AtMostOnce,
			func(f *fixture) { f.engine.Drop(hookX) }},
		{"an agent the Hook no longer names for the firing frees the send slot its intent held", delivery.AtMostOnce,
			func(f *fixture) { ensure(f.engine, web1, agentB) }},
		{"a forgotten firing frees the send slot its intent held", delivery.AtMostOnce,
			func(f *fixture) { f.engine.Forget(hookX, web1.Key) }},
		{"a resolved firing frees the send slot its intent held", delivery.AtMostOnce,
			func(f *fixture) { f.engine.End(hookX, web1.Key) }},
		{"a task outliving the investigation deadline frees its investigation slot", delivery.AtLeastOnce,
			func(f *fixture) { f.after(2 * time.Minute) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, delivery.Options{Guarantee: tt.guarantee, MaxSendsPerAgent: 1, MaxInvestigationsPerAgent: 1,
				InvestigationTimeout: time.Minute})
			ensure(f.engine, web1, agentA) // takes A's only slot (a working task, or an intent)
			ensure(f.engine, firing(hookY, "db-0"), agentA)
			f.engine.Wait()
			if d := f.engine.QueueDepth(agentA); d != 1 {
				t.Fatalf("before: queue depth of A = %d, want hook y's firing waiting", d)
			}
			tt.free(f)
			f.engine.Wait()
			if d := f.engine.QueueDepth(agentA); d != 0 {
				t.Fatalf("queue depth of A = %d once hook x's slot is free, want 0", d)
			}
			if r := f.record(t, hookY, agentA); r.State == delivery.Pending {
				t.Fatalf("hook y's firing still waits (%+v) although A has a free slot", r)
			}
		})
	}
}
