package controlplane

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// errPortTaken says a component could not bind a port picked for it: another process took it
// between the pick and the bind. The start is retried on new ports.
var errPortTaken = errors.New("a port picked for it was taken")

// startAttempts bounds the retries on errPortTaken.
const startAttempts = 3

// process is one running component: its output goes to a log file that outlives it (kwok is
// stopped and started again into the same file).
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	log     *os.File
	done    chan struct{} // closed when the process has exited
	err     error         // Wait's result, set before done is closed
	mu      sync.Mutex
	stopped bool
}

// startProcess starts path with args, its output appended to logPath. env replaces the
// environment when not nil.
func startProcess(name, path string, args, env []string, logPath string) (*process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the log of %s: %w", name, err)
	}
	fmt.Fprintf(log, "=== %s: %s %s\n", time.Now().Format(time.RFC3339Nano), path, strings.Join(args, " "))
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = env
	// Pdeathsig: a test binary that dies without its cleanups (a panic, a timeout) takes the
	// component with it instead of leaving it running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("starting %s (%s): %w", name, path, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = log.Close()
		close(p.done)
	}()
	return p, nil
}

// exitError says that (and how) the process has exited, or nil while it runs.
func (p *process) exitError() error {
	select {
	case <-p.done:
		tail := tailFile(p.logPath, 15)
		if strings.Contains(tail, "address already in use") {
			return fmt.Errorf("%s exited: %w:\n%s", p.name, errPortTaken, tail)
		}
		return fmt.Errorf("%s exited (%v); the end of its log:\n%s", p.name, p.err, tail)
	default:
		return nil
	}
}

// stop sends SIGTERM, waits up to timeout, then kills the process, and waits for it. Stopping
// twice is harmless.
func (p *process) stop(timeout time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil
	}
	p.stopped = true
	select {
	case <-p.done:
		return nil // exited on its own: exitError tells how
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
		return fmt.Errorf("%s did not stop within %s after SIGTERM and was killed", p.name, timeout)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit even after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// freePort returns a loopback TCP port that was free a moment ago. A component that finds it
// taken fails with "address already in use", and its start is retried (errPortTaken).
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// healthClient asks a component's own /healthz; the components serve it with a self-signed
// certificate they made themselves, so there is nothing to verify it against.
var healthClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // see above
}

// waitHealthy polls url until it answers 200, the process exits, or ctx ends.
func waitHealthy(ctx context.Context, p *process, url string) error {
	var last string
	for {
		if err := p.exitError(); err != nil {
			return err
		}
		resp, err := healthClient.Get(url)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy at %s (last answer: %s); the end of its log:\n%s",
				p.name, url, last, tailFile(p.logPath, 15))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// launch starts a component with start on ports picked by freePort (n of them) and waits
// until ready says it serves, retrying on new ports when one was taken.
func launch(ctx context.Context, n int, start func(ports []int) (*process, error), ready func(ctx context.Context, p *process, ports []int) error) (*process, error) {
	var lastErr error
	for range startAttempts {
		ports := make([]int, n)
		for i := range ports {
			port, err := freePort()
			if err != nil {
				return nil, err
			}
			ports[i] = port
		}
		p, err := start(ports)
		if err != nil {
			return nil, err
		}
		err = ready(ctx, p, ports)
		if err == nil {
			return p, nil
		}
		_ = p.stop(10 * time.Second)
		if !errors.Is(err, errPortTaken) {
			return nil, err
		}
		lastErr = err
	}
	return nil, fmt.Errorf("after %d attempts: %w", startAttempts, lastErr)
}

// tailFile returns the last n lines of the file at path, or why it cannot.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	lines := make([]string, 0, n)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if len(lines) == n {
			lines = append(lines[:0], lines[1:]...)
		}
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		lines = append(lines, fmt.Sprintf("(reading the log: %v)", err))
	}
	return strings.Join(lines, "\n")
}
