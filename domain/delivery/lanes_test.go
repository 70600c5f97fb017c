package delivery_test

import (
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
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

// At most once, a send waits for a status write that holds its intent. A write that left the
// intent out (the status had no room for it) must not leave the send holding its agent's slot.
func TestASendWhoseIntentAWriteLeftOutGivesItsSlotBack(t *testing.T) {
	f := newFixture(t, delivery.Options{Guarantee: delivery.AtMostOnce, MaxSendsPerAgent: 1, RetryInitial: time.Minute})
	web1 := firing(hookX, "web-1")
	ensure(f.engine, web1, agentA)
	ensure(f.engine, firing(hookY, "db-0"), agentA)
	_, written := f.engine.Snapshot(hookX)
	written.Written(map[event.Key]bool{}) // the write cut hook x's firing
	f.engine.Wait()
	if x, y := f.record(t, hookX, agentA), f.record(t, hookY, agentA); x.State != delivery.Pending || y.State != delivery.Sending {
		t.Fatalf("after the cut: x %s, y %s; want x pending again and y's intent taking the slot", x.State, y.State)
	}
	releaseIntents(f, hookY) // y is sent and its task followed: the slot is free again
	if x := f.record(t, hookX, agentA); x.State != delivery.Sending {
		t.Fatalf("x is %s once the slot is free again, want its intent taken again", x.State)
	}

	_, written = f.engine.Snapshot(hookX)
	written.Written(map[event.Key]bool{}) // cut a second time in a row: x waits before it tries again
	f.engine.Wait()
	if x := f.record(t, hookX, agentA); x.State != delivery.Pending || !x.NextAt.After(f.clock.Now()) {
		t.Fatalf("after a second cut x is %+v, want pending with a wait, so that no write loop follows", x)
	}
	f.after(2 * time.Minute)
	releaseIntents(f, hookX)
	if n := len(f.agent.Calls("send", agentA)); n != 2 {
		t.Fatalf("%d sends, want y's and then x's once a write held its intent", n)
	}
	if x := f.record(t, hookX, agentA); x.Attempts != 1 {
		t.Fatalf("x made %d attempts, want the cuts not counted as attempts", x.Attempts)
	}
}
