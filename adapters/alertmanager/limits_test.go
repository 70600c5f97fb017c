package alertmanager_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/khook-dev/khook/adapters/alertmanager"
	"github.com/khook-dev/khook/ports"
)

// flood opens n connections to addr and has each write prefix and then pad bytes of pad (one
// shared buffer, so that the test's own heap does not grow with n), and hold the connection
// open until the test ends. It returns at once; the writes go on in the background.
func flood(t *testing.T, addr string, n int, prefix string, pad []byte) {
	t.Helper()
	var conns []net.Conn
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range n {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("dialling connection %d: %v", len(conns), err)
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := io.WriteString(c, prefix); err != nil {
				return // the server closed it: fine
			}
			_, _ = c.Write(pad)
		}()
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	})
}

// heap is the bytes of live heap objects after a collection.
func heap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// peakHeapGrowth samples the heap every 100 ms for d and returns the most it grew above base.
func peakHeapGrowth(base int64, d time.Duration) int64 {
	var peak int64
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		peak = max(peak, heap()-base)
	}
	return peak
}

// TestTheWebhooksMemoryStaysWithinItsCapsUnderConnectionFloods is the webhook's memory bound,
// measured, with the default settings and no bearer token (what a sender without the token can
// do is what anyone can), against the floods of issue 15: 300 connections sending 1 MiB of
// headers (594-677 MiB of RSS before), 300 holding headers open, and 60 holding 4 MiB bodies
// open (282 MiB more before). The heap may grow by at most
//
//	maxConnections × 2 × (maxHeaderBytes + 4 KiB read ahead + 8 KiB of buffers) = 7 MiB
//	+ for bodies, maxConcurrentPosts × maxBodyBytes (one buffer of the body's length each) = 16 MiB
//	+ 4 MiB for the rest (goroutines' bookkeeping, the runtime)
//
// and no more than maxConnections connections may be open at once.
func TestTheWebhooksMemoryStaysWithinItsCapsUnderConnectionFloods(t *testing.T) {
	if testing.Short() {
		t.Skip("floods the webhook with hundreds of connections")
	}
	const (
		connBound = alertmanager.DefaultMaxConnections * 2 * (alertmanager.DefaultMaxHeaderBytes + 12<<10)
		bodyBound = alertmanager.DefaultMaxConcurrentPosts * alertmanager.DefaultMaxBodyBytes
		rest      = 4 << 20
		request   = "POST /webhook HTTP/1.1\r\nHost: khook\r\nContent-Type: application/json\r\n"
		body      = `{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"`
	)
	pad := []byte(strings.Repeat("x", alertmanager.DefaultMaxBodyBytes))
	tests := []struct {
		name   string
		conns  int
		prefix string
		pad    []byte
		bound  int64
	}{
		{"300 connections sending 1 MiB of headers each are answered 431 after 20 KiB",
			300, request + "X-Pad: ", pad[:1<<20], connBound + rest},
		{"300 connections holding 15 KiB of unfinished headers are held only up to maxConnections",
			300, request + "X-Pad: ", pad[:15<<10], connBound + rest},
		{"60 connections holding 4 MiB bodies one byte short have them read maxConcurrentPosts at a time",
			60, request + "Content-Length: " + strconv.Itoa(alertmanager.DefaultMaxBodyBytes) + "\r\n\r\n" + body,
			pad[:alertmanager.DefaultMaxBodyBytes-len(body)-1], connBound + bodyBound + rest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := heap()
			src := start(t, nil, &recorder{})
			flood(t, src.addr, tt.conns, tt.prefix, tt.pad)
			grew := peakHeapGrowth(base, 3*time.Second)
			open, peak := src.src.Connections()
			t.Logf("heap grew by at most %d KiB (bound %d KiB); %d connections open, at most %d at once", grew>>10, tt.bound>>10, open, peak)
			if grew > tt.bound {
				t.Errorf("the heap grew by %d KiB under the flood, more than the %d KiB the caps allow", grew>>10, tt.bound>>10)
			}
			if peak > alertmanager.DefaultMaxConnections {
				t.Errorf("%d connections were open at once, more than maxConnections (%d)", peak, alertmanager.DefaultMaxConnections)
			}
		})
	}
}

// rawPost is a complete webhook request with one firing alert, for a raw connection.
func rawPost(fp string) string {
	body := payload(firingAlert(fp, "2026-08-01T10:00:00Z"))
	return "POST /webhook HTTP/1.1\r\nHost: khook\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

func TestConnectionsBeyondMaxConnectionsWaitUntilOneCloses(t *testing.T) {
	src := start(t, ports.Settings{"maxConnections": 4}, &recorder{})
	var holders []net.Conn
	for range 4 { // headers never finished
		c, err := net.Dial("tcp", src.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "POST /webhook HTTP/1.1\r\nHost: khook\r\n"); err != nil {
			t.Fatal(err)
		}
		holders = append(holders, c)
	}
	eventually(t, 10*time.Second, func() error {
		if open, _ := src.src.Connections(); open != 4 {
			return fmt.Errorf("%d connections open, want the 4 holders", open)
		}
		return nil
	})
	fifth, err := net.Dial("tcp", src.addr) // the kernel's accept queue takes it
	if err != nil {
		t.Fatal(err)
	}
	defer fifth.Close()
	if _, err := io.WriteString(fifth, rawPost("fp5")); err != nil {
		t.Fatal(err)
	}
	_ = fifth.SetReadDeadline(time.Now().Add(time.Second))
	var ne net.Error
	if _, err := fifth.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("a fifth connection was served while four held every slot (read: %v)", err)
	}
	if _, peak := src.src.Connections(); peak != 4 {
		t.Errorf("at most %d connections were open at once, want 4", peak)
	}
	holders[0].Close()
	_ = fifth.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(fifth), nil)
	if err != nil {
		t.Fatalf("the fifth connection was not served once a slot was free: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the fifth connection's post: %d", resp.StatusCode)
	}
}

func TestABodySentTooSlowlyIsCutAtBodyReadTimeout(t *testing.T) {
	src := start(t, ports.Settings{"bodyReadTimeout": "300ms"}, &recorder{})
	c, err := net.Dial("tcp", src.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A slow-loris body: a promise of 1000 bytes, ten of them sent, then nothing.
	if _, err := io.WriteString(c, "POST /webhook HTTP/1.1\r\nHost: khook\r\nContent-Length: 1000\r\n\r\n{\"version\""); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second)) // 30 times the setting
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body within 10 s: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Errorf("answer %d (close %v), want 408 closing the connection", resp.StatusCode, resp.Close)
	}
	if n := src.refused.count("timeout"); n != 1 {
		t.Errorf("%d timeouts counted, want 1", n)
	}
}

func TestAnIdleConnectionIsClosedAfterIdleTimeout(t *testing.T) {
	src := start(t, ports.Settings{"idleTimeout": "200ms"}, &recorder{})
	c, err := net.Dial("tcp", src.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, rawPost("fp1")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("post: %v %v", resp, err)
	}
	resp.Body.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("an idle connection was not closed within 10 s (read: %v)", err)
	}
}

func TestAPostWithoutTheTokenKeepsNoConnection(t *testing.T) {
	src := start(t, settingsOf("bearerToken", "s3cret"), &recorder{})
	c, err := net.Dial("tcp", src.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, rawPost("fp1")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
		t.Errorf("answer %d (close %v), want 401 closing the connection", resp.StatusCode, resp.Close)
	}
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("the connection stayed open after a 401 (read: %v)", err)
	}
}

// alerts is a payload of n firing alerts with fingerprints prefix-0, prefix-1, …
func alerts(prefix string, n int) string {
	list := make([]string, n)
	for i := range list {
		list[i] = firingAlert(fmt.Sprintf("%s-%d", prefix, i), "2026-08-01T10:00:00Z")
	}
	return payload(list...)
}

func TestAPostOf10000AlertsDoesNotBecome10000Events(t *testing.T) {
	sink := &recorder{}
	src := start(t, ports.Settings{"maxBodyBytes": 16 << 20}, sink) // room for the body: the alert cap refuses it
	code, body := post(t, src.url, alerts("flood", 10_000))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "setting maxAlertsPerPost") || !strings.Contains(body, "max_alerts: 1000") {
		t.Errorf("answer %d %q, want 413 naming maxAlertsPerPost and max_alerts", code, body)
	}
	if n := len(sink.got()); n != 0 {
		t.Errorf("%d events from a refused post", n)
	}
	if n := src.refused.count("too-many-alerts"); n != 1 {
		t.Errorf("%d refusals counted as too-many-alerts, want 1", n)
	}
}

func TestThePerMinuteCapAsksAlertmanagerToRetryLater(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 8, 1, 10, 0, 0, 0, time.UTC))
	sink := &recorder{}
	src := start(t, ports.Settings{"maxAlertsPerMinute": 120, "maxAlertsPerPost": 100}, sink,
		func(s *alertmanager.Source) { s.SetClock(clk) })
	send := func(prefix string, n int) *http.Response {
		t.Helper()
		resp, err := http.Post(src.url, "application/json", strings.NewReader(alerts(prefix, n)))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := send("a", 100); resp.StatusCode != http.StatusOK {
		t.Fatalf("a first post of 100 of a cap of 120 a minute: %d", resp.StatusCode)
	}
	// 20 alerts are left; 60 more need 40 more, two a second: 20 s.
	resp := send("b", 60)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "20" {
		t.Fatalf("a post past the cap: %d, Retry-After %q; want 503 (which Alertmanager retries) after 20 s",
			resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	clk.SetTime(clk.Now().Add(19 * time.Second))
	if resp := send("b", 60); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("a retry a second early: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	clk.SetTime(clk.Now().Add(time.Second))
	if resp := send("b", 60); resp.StatusCode != http.StatusOK {
		t.Fatalf("the retry once the bucket refilled: %d", resp.StatusCode)
	}
	// Empty now: a post is refused before its body is read.
	if resp := send("c", 1); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("a post to an empty bucket: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := len(sink.got()); n != 160 {
		t.Errorf("%d events, want the 160 alerts taken", n)
	}
	if n := src.refused.count("rate-limited"); n != 3 {
		t.Errorf("%d refusals counted as rate-limited, want 3", n)
	}
}

func TestAPostWaitsForATurnAndIsAskedToRetryWhenNoneComes(t *testing.T) {
	sink := &recorder{}
	src := start(t, ports.Settings{"maxConcurrentPosts": 1, "bodyReadTimeout": "1m"}, sink,
		func(s *alertmanager.Source) { s.SetEnqueueTimeout(300 * time.Millisecond) })
	holder, err := net.Dial("tcp", src.addr) // takes the one turn, its body never finished
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := io.WriteString(holder, "POST /webhook HTTP/1.1\r\nHost: khook\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	var code int
	var body string
	eventually(t, 10*time.Second, func() error { // until the holder's body is being read
		code, body = post(t, src.url, payload(firingAlert("fp1", "2026-08-01T10:00:00Z")))
		if code == http.StatusOK {
			return fmt.Errorf("a post was taken while the only turn should be held")
		}
		return nil
	})
	if code != http.StatusServiceUnavailable || body != "khook is busy; retry" {
		t.Errorf("answer %d %q, want 503 asking for a retry", code, body)
	}
	if n := src.refused.count("busy"); n != 1 {
		t.Errorf("%d refusals counted as busy, want 1", n)
	}
	holder.Close() // its turn ends with the read error
	eventually(t, 10*time.Second, func() error {
		if code, _ := post(t, src.url, payload(firingAlert("fp1", "2026-08-01T10:00:00Z"))); code != http.StatusOK {
			return fmt.Errorf("a post once the turn is free: %d", code)
		}
		return nil
	})
}
