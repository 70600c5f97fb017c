package pipeline

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

// Timing says how often the pipeline's background loops run; zero fields take the defaults.
type Timing struct {
	// Tick: how often due deliveries (retries, task polls, investigation deadlines) are looked
	// at (default 1s).
	Tick time.Duration
	// Coalesce: after a state change, wait this long for more before writing: at most one write
	// per Hook per delay (default 1s).
	Coalesce time.Duration
	// Flush: how often what was merely seen again (lastSeen, occurrences) is written (default 1m).
	Flush time.Duration
	// Sweep: how often quiet events resolve and old ones are forgotten (default 1m).
	Sweep time.Duration
	// Drain: how long sends under way may finish at shutdown (default 30s).
	Drain time.Duration
	// FinalWrite bounds the last status write at shutdown (default 10s).
	FinalWrite time.Duration
}

// WithDefaults returns t with every zero field set to its default.
func (t Timing) WithDefaults() Timing {
	for _, f := range []struct {
		d   *time.Duration
		def time.Duration
	}{{&t.Tick, time.Second}, {&t.Coalesce, time.Second}, {&t.Flush, time.Minute}, {&t.Sweep, time.Minute},
		{&t.Drain, 30 * time.Second}, {&t.FinalWrite, 10 * time.Second}} {
		if *f.d <= 0 {
			*f.d = f.def
		}
	}
	return t
}

// Run runs the pipeline's background work on clk until ctx is done: due deliveries on a
// goroutine of their own (a slow API server holding a status write up delays no agent), status
// writes coalesced after each change and in full every Flush, a Hook whose write failed written
// again when its own backoff is over (NextStatusWrite), and the sweep of quiet events. beat, if
// not nil, is called on every wake-up (a liveness check watches it).
//
// When ctx is done — shutdown, or lost leadership — it starts no more sends (another replica
// may lead), lets those under way finish for up to Drain, and writes the final status, so that a
// successor neither loses a firing nor tells an agent twice. Sends that had to be cancelled at
// the deadline are logged; they stay due for the next leader.
func (p *Pipeline) Run(ctx context.Context, clk clock.WithTicker, t Timing, beat func()) error {
	t = t.WithDefaults()
	if beat == nil {
		beat = func() {}
	}
	flush, sweep := clk.NewTicker(t.Flush), clk.NewTicker(t.Sweep)
	defer flush.Stop()
	defer sweep.Stop()
	due := make(chan struct{}) // closed when the due-deliveries goroutine has returned
	go func() {
		defer close(due)
		tick := clk.NewTicker(t.Tick)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C():
				p.RunDue(ctx)
			}
		}
	}()
	var retry clock.Timer // armed for the earliest Hook whose write backs off
	var retryC <-chan time.Time
	stopRetry := func() {
		if retry != nil {
			retry.Stop()
			retry, retryC = nil, nil
		}
	}
	defer stopRetry()
	write := func(ctx context.Context, full bool) {
		if err := p.FlushStatus(ctx, full); err != nil {
			p.deps.Logger.Error("writing hook status failed; the Hooks whose writes failed are tried again after a backoff", "error", err.Error())
		}
		stopRetry()
		if next, ok := p.NextStatusWrite(); ok {
			retry = clk.NewTimer(max(next.Sub(clk.Now()), t.Coalesce))
			retryC = retry.C()
		}
	}
	var coalesce <-chan time.Time // armed by a state change
	for {
		beat()
		select {
		case <-ctx.Done():
			p.Stop()
			<-due
			drainCtx, cancel := context.WithTimeout(context.Background(), t.Drain)
			defer cancel()
			if err := p.Drain(drainCtx); err != nil {
				p.deps.Logger.Error("sends under way did not finish before the shutdown deadline; they stay due for the next leader", "error", err.Error())
			}
			finalCtx, cancelFinal := context.WithTimeout(context.Background(), t.FinalWrite)
			defer cancelFinal()
			p.forgetBackoffs() // the last write is the last chance: no Hook waits it out
			write(finalCtx, true)
			return nil
		case <-p.Changed():
			if coalesce == nil {
				coalesce = clk.After(t.Coalesce)
			}
		case <-coalesce:
			coalesce = nil
			write(ctx, false)
		case <-retryC:
			retry, retryC = nil, nil
			write(ctx, false)
		case <-flush.C():
			write(ctx, true)
		case <-sweep.C():
			p.Sweep(ctx)
		}
	}
}
