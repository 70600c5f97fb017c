package clock_test

import (
	"context"
	"testing"
	"time"

	"github.com/khook-dev/khook/adapters/clock"
)

func TestACoarseClockIsAtMostItsResolutionBehindAndExactWhenNotRunning(t *testing.T) {
	const resolution = 10 * time.Millisecond
	c := clock.NewCoarse(resolution)
	before := time.Now()
	if got := c.Now(); got.Before(before) {
		t.Fatalf("before Run, Now() = %v, earlier than %v: it should read the time itself", got, before)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	var last time.Time
	for moves := 0; moves < 20; {
		real := time.Now()
		got := c.Now()
		if lag := real.Sub(got); lag > 20*resolution { // generous: a busy machine delays the ticker
			t.Fatalf("the coarse clock is %s behind, want at most about %s", lag, resolution)
		}
		if got.After(time.Now()) {
			t.Fatalf("the coarse clock is ahead of the time: %v", got)
		}
		if got.After(last) {
			moves, last = moves+1, got // a fresh reading
		}
		if time.Now().After(deadline) {
			t.Fatalf("the coarse clock moved %d times in 10s, want 20", moves)
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	<-done
	after := time.Now()
	if got := c.Now(); got.Before(after) {
		t.Fatalf("after Run, Now() = %v, earlier than %v: it should read the time itself again", got, after)
	}
}
