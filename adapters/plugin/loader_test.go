package plugin_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/khook-dev/khook/adapters/plugin"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

// buildTimeout bounds one plugin build: a cold one compiles the standard library again (for
// dynamic linking) and may take minutes on a busy machine.
const buildTimeout = 10 * time.Minute

var (
	plugins   = map[string]string{} // package + flags → .so
	pluginsMu sync.Mutex
	pluginDir string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "khook-plugins-")
	if err != nil {
		panic(err)
	}
	pluginDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// hostFlags are the go build flags this test binary was built with that a plugin must share.
func hostFlags(t *testing.T) []string {
	t.Helper()
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("the test binary has no build information")
	}
	var flags []string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "-race" && s.Value == "true", s.Key == "-trimpath" && s.Value == "true":
			flags = append(flags, s.Key)
		case s.Key == "-tags" && s.Value != "":
			flags = append(flags, "-tags="+s.Value)
		}
	}
	return flags
}

// buildPlugin builds the plugin in pkg (relative to the module root) with flags, once per test
// binary, into a file named name.so, and returns its path.
func buildPlugin(t *testing.T, pkg, name string, flags ...string) string {
	t.Helper()
	if !plugin.Supported {
		t.Skip("this test binary was built without cgo; TestLoadWithoutCgoExplains covers it")
	}
	key := pkg + " " + strings.Join(flags, " ")
	pluginsMu.Lock()
	defer pluginsMu.Unlock()
	if p, ok := plugins[key]; ok {
		return p
	}
	out := filepath.Join(pluginDir, fmt.Sprintf("%d", len(plugins)), name+".so")
	args := append([]string{"build", "-buildmode=plugin", "-o", out}, flags...)
	args = append(args, "./"+pkg)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	began := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	t.Logf("built %s with %v in %s", pkg, flags, time.Since(began).Round(time.Millisecond))
	plugins[key] = out
	return out
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(b)))
}

// recorder is a sink that keeps what it takes.
type recorder struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *recorder) Handle(_ context.Context, e event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) got() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.events...)
}

func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %s: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kubernetesLike stands for a built-in source.
type kubernetesLike struct{ types []event.Type }

func (k kubernetesLike) Info() ports.SourceInfo {
	return ports.SourceInfo{Name: "kubernetes", EventTypes: k.types}
}
func (kubernetesLike) Init(context.Context, ports.Settings) error { return nil }
func (kubernetesLike) Watch(ctx context.Context, _ ports.EventSink, running func()) error {
	running()
	<-ctx.Done()
	return nil
}
func (kubernetesLike) Stop(context.Context) error { return nil }
