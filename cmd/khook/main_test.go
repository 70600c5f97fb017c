package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// buildDir holds the binary the tests build once, as hack/build.sh (the Dockerfile) builds it.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "khook-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	built    string
	buildErr error
	buildMu  sync.Mutex
)

// buildKhook builds cmd/khook with hack/build.sh, once per test run, and returns its path.
func buildKhook(t *testing.T) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if built == "" && buildErr == nil {
		out := filepath.Join(buildDir, "khook")
		cmd := exec.Command(filepath.Join("..", "..", "hack", "build.sh"), out)
		if output, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("hack/build.sh: %v\n%s", err, output)
		} else {
			built = out
		}
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}
