package volume_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/volume"
)

func TestAHooksBudgetOfTwoAnHourLetsTwoOfFiveIncidentsThrough(t *testing.T) {
	clock := clocktesting.NewFakeClock(t0)
	b := volume.NewBudgets(0)
	var got []string
	for i := range 5 {
		ok, exhausted := b.Take(candidate(about("Deployment", fmt.Sprintf("web-%d", i))), 2, clock.Now())
		got = append(got, fmt.Sprintf("%v %s", ok, exhausted))
		clock.Step(time.Minute)
	}
	want := []string{"true ", "true ", "false hook apps/prod-pods: 2 an hour", "false hook apps/prod-pods: 2 an hour", "false hook apps/prod-pods: 2 an hour"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Take gave %q, want %q", got, want)
	}
}

func TestABucketRefillsOneTokenEveryHourOverItsSize(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration // after emptying a bucket of 10 an hour
		want  int           // tokens available
	}{
		{"at once it is empty", 0, 0},
		{"a moment short of 6 minutes it is still empty", 6*time.Minute - time.Nanosecond, 0},
		{"after 6 minutes it holds one", 6 * time.Minute, 1},
		{"after half an hour it holds five", 30 * time.Minute, 5},
		{"after an hour it is full", time.Hour, 10},
		{"after a day it is no fuller than full", 24 * time.Hour, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clocktesting.NewFakeClock(t0)
			b := volume.NewBudgets(0)
			for range 10 {
				if ok, why := b.Take(candidate(), 10, clock.Now()); !ok {
					t.Fatalf("a full bucket of 10 refused: %s", why)
				}
			}
			clock.Step(tt.after)
			n := 0
			for n < 100 {
				if ok, _ := b.Take(candidate(), 10, clock.Now()); !ok {
					break
				}
				n++
			}
			if n != tt.want {
				t.Fatalf("%d tokens, want %d", n, tt.want)
			}
		})
	}
}

func TestTakeTakesFromEveryBudgetOrFromNone(t *testing.T) {
	tests := []struct {
		name      string
		perAgent  int
		hookLimit int
		first     []volume.Candidate // taken before, each must succeed
		then      volume.Candidate
		wantOK    bool
		exhausted string
		// after: a candidate that must then still get a token (what the refusal must not have taken)
		after volume.Candidate
	}{
		{"no budget at all lets everything through", 0, 0,
			repeat(candidate(), 50), candidate(), true, "", candidate()},
		{"an agent's budget spans Hooks", 2, 0,
			[]volume.Candidate{candidate(byHook("apps", "a")), candidate(byHook("shop", "b"))},
			candidate(byHook("ops", "c")), false, "agent kagent/k8s-agent: 2 an hour",
			candidate(byHook("ops", "c"), telling("kagent/other"))},
		{"an empty agent budget leaves the Hook's token", 1, 1,
			[]volume.Candidate{candidate(byHook("shop", "b"))},
			candidate(), false, "agent kagent/k8s-agent: 1 an hour",
			// the Hook still has its one token, for another agent
			candidate(telling("kagent/other"))},
		{"one empty agent of two leaves the other's token", 1, 0,
			[]volume.Candidate{candidate(byHook("shop", "b"), telling("kagent/busy"))},
			candidate(telling("kagent/free", "kagent/busy")), false, "agent kagent/busy: 1 an hour",
			candidate(telling("kagent/free"))},
		{"an empty Hook budget leaves the agents' tokens", 1, 1,
			[]volume.Candidate{candidate(telling("kagent/a"))},
			candidate(telling("kagent/b")), false, "hook apps/prod-pods: 1 an hour",
			candidate(byHook("shop", "x"), telling("kagent/b"))},
		{"the Hook's budget is named before an agent's", 1, 1,
			[]volume.Candidate{candidate()},
			candidate(), false, "hook apps/prod-pods: 1 an hour", volume.Candidate{}},
		{"an agent listed twice costs one token", 1, 0,
			nil, candidate(telling("kagent/a", "kagent/a")), true, "", volume.Candidate{}},
		{"Hooks have a budget each", 0, 1,
			[]volume.Candidate{candidate(byHook("apps", "a"))},
			candidate(byHook("apps", "b")), true, "", volume.Candidate{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := volume.NewBudgets(tt.perAgent)
			for i, c := range tt.first {
				if ok, why := b.Take(c, tt.hookLimit, t0); !ok {
					t.Fatalf("take %d refused: %s", i, why)
				}
			}
			ok, exhausted := b.Take(tt.then, tt.hookLimit, t0)
			if ok != tt.wantOK || exhausted != tt.exhausted {
				t.Fatalf("Take = %v, %q; want %v, %q", ok, exhausted, tt.wantOK, tt.exhausted)
			}
			if tt.after.Hook.Name != "" {
				if ok, why := b.Take(tt.after, tt.hookLimit, t0); !ok {
					t.Fatalf("the refusal took a token it should have left: %s", why)
				}
			}
		})
	}
}

func repeat(c volume.Candidate, n int) []volume.Candidate {
	out := make([]volume.Candidate, n)
	for i := range out {
		out[i] = c
	}
	return out
}

func TestBucketsThatAreFullOrOfGoneHooksAreForgotten(t *testing.T) {
	clock := clocktesting.NewFakeClock(t0)
	b := volume.NewBudgets(20)
	for i := range 10 {
		b.Take(candidate(byHook("apps", fmt.Sprintf("h%d", i))), 10, clock.Now())
	}
	if got := b.Buckets(); got != 11 {
		t.Fatalf("%d buckets, want 10 Hooks' and 1 agent's", got)
	}
	b.ForgetHook(hook.Ref{Namespace: "apps", Name: "h0"})
	if got := b.Buckets(); got != 10 {
		t.Fatalf("%d buckets after a Hook is gone, want 10", got)
	}
	// 6 minutes later each Hook's bucket of 10 is full again; the agent's of 20 (10 taken) needs
	// half an hour. The next Take after a minute's pause sweeps.
	clock.Step(6 * time.Minute)
	b.Take(candidate(byHook("ops", "new"), telling("kagent/other")), 10, clock.Now())
	if got := b.Buckets(); got != 3 {
		t.Fatalf("%d buckets, want the agent k8s-agent's and the new Hook's and agent's", got)
	}
}

func TestTheMemoryOf100000HooksBucketsIsReleasedOnceTheyAreFull(t *testing.T) {
	clock := clocktesting.NewFakeClock(t0)
	b := volume.NewBudgets(0)
	before := heapInUse()
	for i := range 100_000 {
		b.Take(candidate(byHook(fmt.Sprintf("ns-%d", i%1000), fmt.Sprintf("hook-%d", i))), 1, clock.Now())
	}
	if got := b.Buckets(); got < 100_000 {
		t.Fatalf("%d buckets, want 100000 (none full yet)", got)
	}
	peak := heapInUse()
	clock.Step(time.Hour)
	b.Take(candidate(), 1, clock.Now())
	after := heapInUse()
	if got := b.Buckets(); got != 1 {
		t.Fatalf("%d buckets an hour later, want 1", got)
	}
	grown, kept := peak-before, after-before
	t.Logf("heap: %d KB before, %d KB with 100,000 buckets, %d KB once they are full", before>>10, peak>>10, after>>10)
	if grown < 4<<20 || kept > grown/10 {
		t.Fatalf("100,000 buckets grew the heap by %d KB and %d KB stayed after they were full; want most of it released", grown>>10, kept>>10)
	}
	runtime.KeepAlive(b)
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func TestBudgetsAreSafeForConcurrentUseAndNeverOverspend(t *testing.T) {
	b := volume.NewBudgets(30)
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for w := range 8 {
		wg.Go(func() {
			for i := range 100 {
				if ok, _ := b.Take(candidate(byHook("apps", fmt.Sprintf("h%d", (w+i)%4))), 10, t0); ok {
					mu.Lock()
					taken++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	// 4 Hooks of 10 could take 40; the one agent's 30 bound them.
	if taken != 30 {
		t.Fatalf("%d investigations started, want 30", taken)
	}
}
