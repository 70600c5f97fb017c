package controlplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sh starts a shell script as a component whose log is in dir.
func sh(t *testing.T, dir, script string) *process {
	t.Helper()
	p, err := startProcess("component", "/bin/sh", []string{"-c", script}, nil, filepath.Join(dir, "component.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.stop(5 * time.Second) })
	return p
}

// untilExitOrReady is a readiness check that fails as soon as the process exits, and passes
// for a process still running after a moment.
func untilExitOrReady(ctx context.Context, p *process, _ []int) error {
	select {
	case <-p.done:
		return p.exitError()
	case <-time.After(500 * time.Millisecond):
		return p.exitError()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestLaunch(t *testing.T) {
	tests := []struct {
		name string
		// scripts are what each start runs, in turn; the last one is repeated.
		scripts []string
		starts  int
		want    string // in the error, "" for a start that succeeds
		taken   bool   // the error is errPortTaken
	}{
		{
			name:    "a component that finds its port taken is started again on new ports",
			scripts: []string{`echo "listen tcp 127.0.0.1:1234: bind: address already in use" >&2; exit 1`, `exec sleep 60`},
			starts:  2,
		},
		{
			name:    "a component that keeps finding its ports taken is given up after a few tries",
			scripts: []string{`echo "bind: address already in use" >&2; exit 1`},
			starts:  startAttempts, want: "a port picked for it was taken", taken: true,
		},
		{
			name:    "a component that fails for another reason is not started again, and its log says why",
			scripts: []string{`echo "flag provided but not defined: -bogus" >&2; exit 2`},
			starts:  1, want: "flag provided but not defined: -bogus",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var ports [][]int
			p, err := launch(context.Background(), 2, func(picked []int) (*process, error) {
				ports = append(ports, picked)
				script := tt.scripts[min(len(ports), len(tt.scripts))-1]
				return sh(t, dir, script), nil
			}, untilExitOrReady)
			if len(ports) != tt.starts {
				t.Errorf("started %d times, want %d", len(ports), tt.starts)
			}
			for i := 1; i < len(ports); i++ {
				if fmt.Sprint(ports[i]) == fmt.Sprint(ports[i-1]) {
					t.Errorf("start %d had the same ports as the one before: %v", i+1, ports[i])
				}
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("launch: %v", err)
				}
				if p.exitError() != nil {
					t.Errorf("the launched component is not running: %v", p.exitError())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("launch said %v, want %q", err, tt.want)
			}
			if errors.Is(err, errPortTaken) != tt.taken {
				t.Errorf("launch said %v: errPortTaken %v, want %v", err, errors.Is(err, errPortTaken), tt.taken)
			}
		})
	}
}

func TestStopEndsAComponentThatIgnoresSIGTERM(t *testing.T) {
	dir := t.TempDir()
	// It says so once the trap is set (the log's first line, the command, does not say "2 …").
	p := sh(t, dir, `trap "" TERM; echo "$((1+1)) ignores SIGTERM"; while true; do sleep 1; done`)
	waitLog(t, p, "2 ignores SIGTERM")
	started := time.Now()
	err := p.stop(time.Second)
	if err == nil || !strings.Contains(err.Error(), "was killed") {
		t.Errorf("stop said %v, want it to say the component was killed", err)
	}
	select {
	case <-p.done:
	default:
		t.Fatal("stop returned before the component exited")
	}
	if took := time.Since(started); took > 15*time.Second {
		t.Errorf("stop took %s", took)
	}
	if err := p.stop(time.Second); err != nil {
		t.Errorf("stopping again: %v", err)
	}
}

func TestStopEndsAComponentWithSIGTERM(t *testing.T) {
	p := sh(t, t.TempDir(), `exec sleep 60`)
	if err := p.stop(10 * time.Second); err != nil {
		t.Errorf("stop: %v", err)
	}
	if err := p.exitError(); err == nil {
		t.Error("the component still runs")
	}
}

func TestTailFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	var lines []string
	for i := range 100 {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := tailFile(path, 3), "line 97\nline 98\nline 99"; got != want {
		t.Errorf("tailFile(3) = %q, want %q", got, want)
	}
	if got := tailFile(filepath.Join(t.TempDir(), "missing"), 3); !strings.HasPrefix(got, "(no log: ") {
		t.Errorf("tailFile of a missing file = %q", got)
	}
}

func waitLog(t *testing.T, p *process, text string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(tailFile(p.logPath, 5), text) {
		if time.Now().After(deadline) {
			t.Fatalf("the component did not log %q: %s", text, tailFile(p.logPath, 5))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
