package a2a

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

func TestBurstsOfRequestsToKagentReuseTheirConnections(t *testing.T) {
	var dialled atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	rt, err := Security{}.transport(nil, "tester")
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: rt}
	const concurrent, bursts = 16, 10
	for range bursts {
		var wg sync.WaitGroup
		for range concurrent {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := client.Get(srv.URL)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}()
		}
		wg.Wait()
	}
	// A connection handed back a moment late may make a later burst dial one more; closing
	// idle connections between bursts makes it dial nearly every one again (about 140).
	if n := dialled.Load(); n > 2*concurrent {
		t.Fatalf("%d bursts of %d requests dialled %d connections, want at most %d: idle connections are closed between bursts", bursts, concurrent, n, 2*concurrent)
	}
}
