package templating

import (
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/domain/event"
)

// blocked says whether done stays empty for a while: heavy work waiting for its turn. It can
// only err the lenient way (a slow machine may let work that should wait look blocked).
func blocked(done <-chan error) bool {
	select {
	case <-done:
		return false
	case <-time.After(50 * time.Millisecond):
		return true
	}
}

func TestHeavyWorkWaitsForATurnAndLightWorkDoesNot(t *testing.T) {
	long := anEvent()
	long.Message = strings.Repeat("m", MaxValueBytes)
	expensive := tenK("{{print", " ((((((((0))))))))", "}}")
	r := newRenderer(nil, MaxCacheCost, MaxHookCost, 1)
	tmpl, err := r.Compile(expensive)
	if err != nil {
		t.Fatal(err)
	}
	render := func(text string, e event.Event) func() error {
		return func() error { _, err := r.Render(text, e); return err }
	}
	tests := []struct {
		name  string
		work  func() error
		heavy bool
	}{
		{"a typical render", render("Pod {{.ResourceName}}: {{.Message}}", anEvent()), false},
		{"a check of a short prompt", func() error { return r.Check("short {{.Reason}}") }, false},
		{"a render of an expensive prompt in the cache", render(expensive, anEvent()), true},
		{"a render of an expensive prompt given as a template", func() error { _, err := tmpl.Render(anEvent()); return err }, true},
		{"a render of a long prompt not in the cache", render(strings.Repeat("text ", 100)+"{{.Reason}}", anEvent()), true},
		{"a check of a long prompt", func() error { return r.Check(strings.Repeat("more text ", 100)) }, true},
		{"a render that writes more than 16 KiB", render("{{.Message}}{{.Message}}{{.Message}}{{.Message}}{{.Message}}", long), true},
		{"a render that makes more than 16 KiB", render(`{{$x := print .Message .Message .Message .Message .Message}}`, long), true},
	}
	r.turns <- struct{}{} // the only turn is taken
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- tt.work() }()
			if tt.heavy {
				if !blocked(done) {
					t.Fatal("heavy work ran without a turn")
				}
				<-r.turns // give the turn
				defer func() { r.turns <- struct{}{} }()
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the work never ended")
			}
			if !tt.heavy && len(r.turns) != 1 {
				t.Fatal("light work took a turn")
			}
		})
	}
}

// signallingClock is a fake clock whose Now waits until the test reads nows.
type signallingClock struct {
	*clocktesting.FakeClock
	nows chan struct{}
}

func (c signallingClock) Now() time.Time {
	now := c.FakeClock.Now()
	c.nows <- struct{}{}
	return now
}

func TestTheTimeARenderWaitsForItsTurnIsNotCountedAgainstItsDeadline(t *testing.T) {
	clk := signallingClock{clocktesting.NewFakeClock(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)), make(chan struct{})}
	r := newRenderer(clk, MaxCacheCost, MaxHookCost, 1)
	e := anEvent()
	e.Message = strings.Repeat("m", MaxValueBytes)
	e.Metadata = map[string]string{}
	for i := range 64 {
		e.Metadata[strings.Repeat("k", i+1)] = "v"
	}
	// Past 1,024 steps (the clock starts), then past 16 KiB written (a turn is needed), then
	// past 1,024 steps again (the deadline is checked).
	steps := "{{range .Metadata}}" + strings.Repeat("{{if eq $.Reason $.Reason}}{{end}}", 10) + "{{end}}"
	text := steps + strings.Repeat("{{.Message}}", 5) + steps
	if err := r.Check(text); err != nil {
		t.Fatal(err)
	}
	r.turns <- struct{}{} // the only turn is taken
	done := make(chan error, 1)
	go func() { _, err := r.Render(text, e); done <- err }()
	<-clk.nows // the render's clock starts
	<-clk.nows // it reads the clock before it waits for its turn
	clk.Step(time.Second)
	<-r.turns
	if err := <-done; err != nil {
		t.Fatalf("a render that waited a second for its turn: %v", err)
	}
}
