package volume_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/volume"
)

// clusterNamespaces are the tests' -cluster-event-namespaces.
var clusterNamespaces = []string{"kagent", "platform"}

func TestASilenceHoldsOnlyTheHooksItsNamespaceMayHold(t *testing.T) {
	during := t0.Add(time.Hour)
	tests := []struct {
		name      string
		silenceIn string
		hookIn    string
		want      bool
	}{
		{"a tenant's silence holds the tenant's Hooks", "apps", "apps", true},
		{"a tenant's silence does not hold another tenant's Hooks", "apps", "shop", false},
		{"a tenant's silence does not hold the Hooks of a cluster event namespace", "apps", "kagent", false},
		{"a silence of a cluster event namespace holds its own Hooks", "kagent", "kagent", true},
		{"a silence of a cluster event namespace holds those of every cluster event namespace", "kagent", "platform", true},
		{"a silence of a cluster event namespace does not hold a tenant's Hooks", "kagent", "apps", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := volume.NewSilences(clusterNamespaces)
			if err := s.Upsert(silence(in(tt.silenceIn, "all"))); err != nil {
				t.Fatal(err)
			}
			got, ok := s.Muting(candidate(byHook(tt.hookIn, "h")), during)
			if ok != tt.want {
				t.Fatalf("Muting = %v, %v; want muted: %v", got, ok, tt.want)
			}
			if ok && (got.Namespace != tt.silenceIn || got.Name != "all") {
				t.Fatalf("Muting returned %s, want %s/all", got, tt.silenceIn)
			}
		})
	}
}

func TestMutingNamesTheActiveMatchingSilenceThatEndsLast(t *testing.T) {
	s := volume.NewSilences(clusterNamespaces)
	for _, sil := range []volume.Silence{
		silence(in("apps", "short"), during(t0, t0.Add(time.Hour))),
		silence(in("apps", "long"), during(t0, t0.Add(3*time.Hour))),
		silence(in("apps", "later"), during(t0.Add(2*time.Hour), t0.Add(8*time.Hour))),
		silence(in("apps", "other-subject"), matching(volume.Matchers{SubjectName: "payments"}), during(t0, t0.Add(24*time.Hour))),
		silence(in("shop", "another-tenant"), during(t0, t0.Add(24*time.Hour))),
	} {
		if err := s.Upsert(sil); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		at   time.Time
		want string // "" for none
	}{
		{"before any starts nothing holds it", t0.Add(-time.Minute), ""},
		{"of two active the one ending last holds it", t0.Add(30 * time.Minute), "long"},
		{"when the first ends the other still holds it", t0.Add(90 * time.Minute), "long"},
		{"a silence that started later and ends last takes over", t0.Add(2 * time.Hour), "later"},
		{"when the last ends nothing holds it", t0.Add(8 * time.Hour), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := s.Muting(candidate(), tt.at)
			if tt.want == "" {
				if ok {
					t.Fatalf("Muting = %s, want none", got)
				}
				return
			}
			if !ok || got.Name != tt.want {
				t.Fatalf("Muting = %s, %v; want apps/%s", got, ok, tt.want)
			}
		})
	}
}

func TestTiesGoToTheFirstSilenceByNamespaceAndName(t *testing.T) {
	s := volume.NewSilences(clusterNamespaces)
	for _, sil := range []volume.Silence{silence(in("platform", "b")), silence(in("platform", "a")), silence(in("kagent", "z"))} {
		if err := s.Upsert(sil); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		if got, _ := s.Muting(candidate(byHook("platform", "h")), t0); got.String() != "kagent/z" {
			t.Fatalf("Muting = %s, want kagent/z", got)
		}
	}
}

func TestUpsertReplacesRemoveForgetsAndRefusals(t *testing.T) {
	s := volume.NewSilences(nil)
	if err := s.Upsert(silence(matching(volume.Matchers{SubjectName: "payments"}))); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Muting(candidate(), t0); ok {
		t.Fatal("a silence of payments held checkout")
	}
	// Edited to hold checkout: the same namespace and name replace it.
	if err := s.Upsert(silence(matching(volume.Matchers{SubjectName: "check*"}))); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Muting(candidate(), t0); !ok || s.Len() != 1 {
		t.Fatalf("the edited silence does not hold checkout, or was added (%d silences)", s.Len())
	}
	// An invalid edit is refused and leaves the valid version in force.
	err := s.Upsert(silence(during(t0, t0.Add(-time.Hour))))
	if !errors.Is(err, volume.ErrInvalidSilence) {
		t.Fatalf("Upsert of an end before the start = %v, want ErrInvalidSilence", err)
	}
	if _, ok := s.Muting(candidate(), t0); !ok {
		t.Fatal("a refused edit removed the valid version")
	}
	s.Remove("apps", "maintenance")
	s.Remove("apps", "maintenance") // twice is harmless
	s.Remove("nowhere", "x")
	if _, ok := s.Muting(candidate(), t0); ok || s.Len() != 0 {
		t.Fatalf("a removed silence still holds (%d silences)", s.Len())
	}
}

func TestANamespaceHoldsAtMostMaxSilencesPerNamespace(t *testing.T) {
	s := volume.NewSilences(nil)
	for i := range volume.MaxSilencesPerNamespace {
		if err := s.Upsert(silence(in("apps", fmt.Sprintf("s%d", i)), matching(volume.Matchers{SubjectName: fmt.Sprintf("svc-%d", i)}))); err != nil {
			t.Fatalf("silence %d: %v", i, err)
		}
	}
	err := s.Upsert(silence(in("apps", "one-too-many")))
	if !errors.Is(err, volume.ErrTooManySilences) {
		t.Fatalf("Upsert of silence %d = %v, want ErrTooManySilences", volume.MaxSilencesPerNamespace+1, err)
	}
	if _, ok := s.Muting(candidate(), t0); ok {
		t.Fatal("the refused silence holds")
	}
	if err := s.Upsert(silence(in("apps", "s7"), matching(volume.Matchers{SubjectName: "checkout"}))); err != nil {
		t.Fatalf("replacing a silence of a full namespace: %v", err)
	}
	if err := s.Upsert(silence(in("shop", "s0"))); err != nil {
		t.Fatalf("another namespace has its own bound: %v", err)
	}
	s.Remove("apps", "s0")
	if err := s.Upsert(silence(in("apps", "one-too-many"))); err != nil {
		t.Fatalf("after a removal there is room: %v", err)
	}
	// The swap on removal kept every silence reachable by name.
	if got, ok := s.Muting(candidate(about("Deployment", "svc-99")), t0); !ok {
		t.Fatalf("svc-99's silence was lost by a removal: %v", got)
	}
}

func TestNextChangeSaysWhenToLookAgainAtHeldIncidents(t *testing.T) {
	clock := clocktesting.NewFakeClock(t0.Add(-time.Hour))
	s := volume.NewSilences(nil)
	if _, ok := s.NextChange(clock.Now()); ok {
		t.Fatal("no silence, yet a next change")
	}
	must(t, s.Upsert(silence(in("apps", "a"), during(t0, t0.Add(2*time.Hour)))))
	must(t, s.Upsert(silence(in("shop", "b"), during(t0.Add(30*time.Minute), t0.Add(time.Hour)))))

	// The incident fires an hour before the window: the caller walks the clock from change to
	// change, as it would re-check what it holds at each (an ended silence emits nothing).
	var changes []time.Duration
	var held []bool
	for {
		next, ok := s.NextChange(clock.Now())
		if !ok {
			break
		}
		clock.SetTime(next)
		changes = append(changes, next.Sub(t0))
		_, muted := s.Muting(candidate(), clock.Now())
		held = append(held, muted)
	}
	wantChanges := []time.Duration{0, 30 * time.Minute, time.Hour, 2 * time.Hour}
	wantHeld := []bool{true, true, true, false} // shop's silence never holds apps' incident
	if fmt.Sprint(changes) != fmt.Sprint(wantChanges) || fmt.Sprint(held) != fmt.Sprint(wantHeld) {
		t.Fatalf("changes at %v holding %v; want %v holding %v", changes, held, wantChanges, wantHeld)
	}
}

func TestMutingAllocatesNothing(t *testing.T) {
	s := volume.NewSilences(clusterNamespaces)
	for i := range 50 {
		must(t, s.Upsert(silence(in("kagent", fmt.Sprintf("s%d", i)), matching(volume.Matchers{
			EventType: "pod-*", SubjectName: fmt.Sprintf("svc-%d-*", i),
			Selector: hook.Selector{MatchLabels: map[string]string{"tier": "critical"}},
		}))))
	}
	c := candidate(byHook("platform", "h"), about("Deployment", "svc-49-x"))
	if _, ok := s.Muting(c, t0); !ok {
		t.Fatal("svc-49-x is not held")
	}
	if allocs := testing.AllocsPerRun(100, func() { s.Muting(c, t0) }); allocs != 0 {
		t.Fatalf("Muting allocates %v times a call, want 0", allocs)
	}
}

func TestSilencesAreSafeForConcurrentUse(t *testing.T) {
	s := volume.NewSilences(clusterNamespaces)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				name := fmt.Sprintf("w%d-%d", w, i%20)
				if i%3 == 2 {
					s.Remove("kagent", name)
					continue
				}
				if err := s.Upsert(silence(in("kagent", name))); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			for range 200 {
				s.Muting(candidate(byHook("platform", "h")), t0)
				s.NextChange(t0)
				s.Len()
			}
		})
	}
	wg.Wait()
	if s.Len() > 4*20 {
		t.Fatalf("%d silences, at most 80 names were used", s.Len())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
