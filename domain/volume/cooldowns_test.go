package volume_test

import (
	"fmt"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/volume"
)

var (
	prodPods = hook.Ref{Namespace: "apps", Name: "prod-pods"}
	checkout = volume.Subject{Kind: "Deployment", Namespace: "apps", Name: "checkout"}
)

func TestACooldownStopsAFlappingWorkloadsSecondInvestigation(t *testing.T) {
	tests := []struct {
		name      string
		cooldown  time.Duration
		ended     bool          // an investigation of checkout by prod-pods ended at t0
		after     time.Duration // when the next incident comes
		hook      hook.Ref
		subject   volume.Subject
		want      bool
		wantUntil time.Time
	}{
		{"a subject never investigated is allowed", 30 * time.Minute, false, 0, prodPods, checkout, true, time.Time{}},
		{"within the cooldown the same subject is held", 30 * time.Minute, true, 10 * time.Minute, prodPods, checkout, false, t0.Add(30 * time.Minute)},
		{"a moment before the end of the cooldown it is still held", 30 * time.Minute, true, 30*time.Minute - time.Nanosecond, prodPods, checkout, false, t0.Add(30 * time.Minute)},
		{"once the cooldown is over it is allowed", 30 * time.Minute, true, 30 * time.Minute, prodPods, checkout, true, time.Time{}},
		{"another subject is allowed", 30 * time.Minute, true, time.Minute, prodPods, volume.Subject{Kind: "Deployment", Namespace: "apps", Name: "payments"}, true, time.Time{}},
		{"a subject of the same name and another kind is allowed", 30 * time.Minute, true, time.Minute, prodPods, volume.Subject{Kind: "StatefulSet", Namespace: "apps", Name: "checkout"}, true, time.Time{}},
		{"another Hook's investigation of the subject is allowed", 30 * time.Minute, true, time.Minute, hook.Ref{Namespace: "apps", Name: "other"}, checkout, true, time.Time{}},
		{"no cooldown allows at once", 0, true, 0, prodPods, checkout, true, time.Time{}},
		{"a cooldown beyond 7 days counts as 7 days", 30 * 24 * time.Hour, true, hook.MaxCooldown, prodPods, checkout, true, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clocktesting.NewFakeClock(t0)
			c := volume.NewCooldowns(0)
			if tt.ended {
				c.Ended(prodPods, checkout, clock.Now())
			}
			clock.Step(tt.after)
			ok, until := c.Allows(tt.hook, tt.subject, tt.cooldown, clock.Now())
			if ok != tt.want || !until.Equal(tt.wantUntil) {
				t.Fatalf("Allows = %v, %s; want %v, %s", ok, until, tt.want, tt.wantUntil)
			}
		})
	}
}

func TestTheLatestEndOfASubjectsInvestigationsCounts(t *testing.T) {
	c := volume.NewCooldowns(0)
	c.Ended(prodPods, checkout, t0.Add(time.Hour))
	c.Ended(prodPods, checkout, t0) // reported late: changes nothing
	if ok, until := c.Allows(prodPods, checkout, time.Hour, t0.Add(90*time.Minute)); ok || !until.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("Allows = %v, %s; want held until %s", ok, until, t0.Add(2*time.Hour))
	}
}

func TestCooldownsRememberABoundedNumberOfEnds(t *testing.T) {
	const max = 1000
	clock := clocktesting.NewFakeClock(t0)
	c := volume.NewCooldowns(max)
	subject := func(i int) volume.Subject {
		return volume.Subject{Kind: "Pod", Namespace: "apps", Name: fmt.Sprintf("p%d", i)}
	}
	for i := range 5 * max {
		c.Ended(prodPods, subject(i), clock.Now())
		if i%3 == 0 { // some end again: stale records must not grow the memory either
			clock.Step(time.Second)
			c.Ended(prodPods, subject(i), clock.Now())
		}
	}
	if got := c.Len(); got != max {
		t.Fatalf("%d ends remembered, want %d", got, max)
	}
	if ok, _ := c.Allows(prodPods, subject(0), time.Hour, clock.Now()); !ok {
		t.Fatal("the first end is still remembered past the bound")
	}
	if ok, _ := c.Allows(prodPods, subject(5*max-1), time.Hour, clock.Now()); ok {
		t.Fatal("the last end is forgotten")
	}
}

func TestEndsOlderThanTheLongestCooldownAreForgotten(t *testing.T) {
	clock := clocktesting.NewFakeClock(t0)
	c := volume.NewCooldowns(0)
	for i := range 100 {
		c.Ended(prodPods, volume.Subject{Kind: "Pod", Name: fmt.Sprintf("p%d", i)}, clock.Now())
	}
	clock.Step(hook.MaxCooldown + time.Second)
	c.Ended(prodPods, checkout, clock.Now())
	if got := c.Len(); got != 1 {
		t.Fatalf("%d ends remembered a week later, want 1", got)
	}
}

func TestAGoneHooksEndsAreForgotten(t *testing.T) {
	c := volume.NewCooldowns(0)
	other := hook.Ref{Namespace: "apps", Name: "other"}
	for i := range 10 {
		c.Ended(prodPods, volume.Subject{Kind: "Pod", Name: fmt.Sprintf("p%d", i)}, t0)
		c.Ended(other, volume.Subject{Kind: "Pod", Name: fmt.Sprintf("p%d", i)}, t0)
	}
	c.ForgetHook(prodPods)
	if got := c.Len(); got != 10 {
		t.Fatalf("%d ends remembered, want the other Hook's 10", got)
	}
	if ok, _ := c.Allows(other, volume.Subject{Kind: "Pod", Name: "p3"}, time.Hour, t0); ok {
		t.Fatal("the other Hook's ends were forgotten too")
	}
	// Ends recorded after a forget are still bounded and found.
	for i := range 10 {
		c.Ended(prodPods, volume.Subject{Kind: "Pod", Name: fmt.Sprintf("p%d", i)}, t0.Add(time.Minute))
	}
	if ok, _ := c.Allows(prodPods, volume.Subject{Kind: "Pod", Name: "p9"}, time.Hour, t0.Add(time.Minute)); ok {
		t.Fatal("an end recorded after ForgetHook is not remembered")
	}
}
