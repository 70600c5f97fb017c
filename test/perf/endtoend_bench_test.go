package perf

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/app"
	"github.com/khook-dev/khook/test/echoagent"
)

const (
	e2eHooks   = 100 // one per namespace, each with an agent of its own
	e2eWorkers = 256 // creates under way at once, at most
)

// e2eDuration is how long each rate is held: KHOOK_PERF_DURATION or 20s.
func e2eDuration(b *testing.B) time.Duration {
	if s := os.Getenv("KHOOK_PERF_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			b.Fatalf("KHOOK_PERF_DURATION=%q is not a positive duration", s)
		}
		return d
	}
	return 20 * time.Second
}

// e2eRates are KHOOK_PERF_RATES ("200,1000": Events per second) or 200 and 1,000.
func e2eRates(b *testing.B) []int {
	s := os.Getenv("KHOOK_PERF_RATES")
	if s == "" {
		return []int{200, 1000}
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r <= 0 {
			b.Fatalf("KHOOK_PERF_RATES: %q is not a positive rate", f)
		}
		out = append(out, r)
	}
	return out
}

// BenchmarkEndToEnd creates Events through the API server at 200/s and 1,000/s, each a new
// firing of exactly one of 100 Hooks, and times in the same run a bare informer's arrival
// (creation → add handler) against khook's delivery (creation → the agent has the message).
func BenchmarkEndToEnd(b *testing.B) {
	e := startEnv(b)
	duration := e2eDuration(b)

	// The agent answers each message with a message: an instant agent, nothing to poll.
	agent := echoagent.Start(echoagent.Options{})
	b.Cleanup(agent.Close)
	agent.SetBehavior("", echoagent.Behavior{AnswerWithMessage: true})
	atAgent := newStamps()
	agent.OnCall(func(r echoagent.Received) { atAgent.note(podOfPrompt(r.Text), time.Now()) })

	// khook talks to Kagent's sessions API (one session per firing, before the message) through
	// a front on a port of its own that serves the echo agent's handler unchanged: it notes when
	// each session request arrives, which splits khook's path in two, and counts the connections
	// khook opens to it. The agents' cards name the echo server itself, so messages go there.
	atSession := newStamps()
	var sessionConns atomic.Int64
	front := httptest.NewUnstartedServer(sessionStamper(agent.Config.Handler, atSession))
	front.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			sessionConns.Add(1)
		}
	}
	front.Start()
	b.Cleanup(front.Close)

	nss, err := e.setUpHooks("perf", e2eHooks)
	if err != nil {
		b.Fatalf("creating the Hooks: %v", err)
	}

	// The bare informer: client-go's, on a connection of its own, cluster-wide and in protobuf
	// like khook's (controller-runtime asks for protobuf for built-in types).
	atInformer := newStamps()
	var audits atomic.Int64 // khook's audit Events, which both informers also receive
	informerCS, err := kubernetes.NewForConfig(protobuf(ownConnection(e.cfg)))
	if err != nil {
		b.Fatal(err)
	}
	factory := informers.NewSharedInformerFactory(informerCS, 0)
	inf := factory.Events().V1().Events().Informer()
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		now := time.Now()
		if ev, ok := obj.(*eventsv1.Event); ok {
			if ev.Regarding.Kind == "Hook" {
				audits.Add(1)
				return
			}
			atInformer.note(ev.Name, now)
		}
	}}); err != nil {
		b.Fatal(err)
	}
	stopInformer := make(chan struct{})
	b.Cleanup(func() { close(stopInformer); factory.Shutdown() })
	factory.Start(stopInformer)
	factory.WaitForCacheSync(stopInformer)

	opts := perfOptions(front.URL)
	diagnose(b, &opts)
	k := e.startKhook(b, opts)
	k.waitReady(b, time.Minute)
	if err := e.waitAccepted(e2eHooks, time.Minute); err != nil {
		b.Fatal(err)
	}
	gen, err := kubernetes.NewForConfig(protobuf(ownConnection(e.cfg)))
	if err != nil {
		b.Fatal(err)
	}

	// Warm up: one event per Hook, so that every agent's card is fetched and every connection
	// open before anything is timed.
	warm := make([]string, len(nss))
	for i, ns := range nss {
		warm[i] = fmt.Sprintf("warm-%04d", i)
		if _, err := gen.EventsV1().Events(ns).Create(context.Background(), backOff(ns, warm[i], time.Now()), metav1.CreateOptions{}); err != nil {
			b.Fatalf("warming up: %v", err)
		}
	}
	if err := waitAll(warm, time.Minute, atInformer, atAgent); err != nil {
		b.Fatalf("warming up: %v", err)
	}

	var rows []e2eRow
	for _, rate := range e2eRates(b) {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			before, auditsBefore, dupsBefore, connsBefore := counters(), audits.Load(), atAgent.duplicates(), sessionConns.Load()
			cpuBefore, wallBefore, loadBefore := cpuTimes(), time.Now(), loadAverage()
			load := generate(b, gen, nss, fmt.Sprintf("r%d", rate), rate, duration)
			// Generous: the whole run again, at least a minute.
			if err := waitAll(load.names, max(time.Minute, duration), atInformer, atAgent); err != nil {
				b.Fatalf("%d events created at %d/s: %v", len(load.names), rate, err)
			}
			row := e2eRow{rate: rate, load: load, informer: load.latencies(atInformer), khook: load.latencies(atAgent),
				session: load.latencies(atSession), sessionToMessage: between(load.names, atSession, atAgent),
				sessionConns: sessionConns.Load() - connsBefore,
				dups:         atAgent.duplicates() - dupsBefore, metrics: delta(before, counters()), wall: time.Since(wallBefore),
				loadAvg: loadBefore + " → " + loadAverage()}
			row.cpu = map[string]time.Duration{}
			for name, t := range cpuTimes() {
				row.cpu[name] = t - cpuBefore[name]
			}
			// Audit Events go on being written after the last delivery; count what arrived by now.
			row.audits = audits.Load() - auditsBefore
			row.statusMean, row.statusMax = e.hookStatusSizes(b)
			rows = append(rows, row)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(load.achieved, "events/s")
			b.ReportMetric(msf(row.informer.q(0.50)), "informer-p50-ms")
			b.ReportMetric(msf(row.informer.q(0.99)), "informer-p99-ms")
			b.ReportMetric(msf(row.khook.q(0.50)), "khook-p50-ms")
			b.ReportMetric(msf(row.khook.q(0.99)), "khook-p99-ms")
			b.ReportMetric(row.ratio(), "p99-ratio")
		})
	}
	printE2E(duration, rows)
}

// diagnose applies the experiments asked for, which change the run, not khook's code, to tell
// what part of khook's latency a suspect accounts for:
//
//	KHOOK_PERF_STATUS_DELAY=d   StatusCoalesceDelay and StatusFlushInterval are d (default 1s and
//	                            1m): how much status writing costs the event path
func diagnose(b *testing.B, opts *app.Options) {
	if s := os.Getenv("KHOOK_PERF_STATUS_DELAY"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			b.Fatalf("KHOOK_PERF_STATUS_DELAY=%q is not a positive duration", s)
		}
		opts.StatusCoalesceDelay, opts.StatusFlushInterval = d, d
		fmt.Printf("experiment: status coalesce delay and flush interval %s\n", d)
	}
}

// ownConnection is cfg on an HTTP connection of its own: a config with its own dialer is not
// shared through client-go's transport cache, so the generator's creates and each side's watch
// do not queue behind one another on one HTTP/2 connection.
func ownConnection(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return c
}

// protobuf makes cfg's client speak protobuf, as controller-runtime's does for built-in types
// and as the kubelet does when it writes Events; it spares the API server's CPU too.
func protobuf(cfg *rest.Config) *rest.Config {
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	return cfg
}

// loadRun is what the generator did.
type loadRun struct {
	names    []string
	created  map[string]time.Time // the instant just before each Create call
	achieved float64              // events per second actually created
	slowest  time.Duration        // the slowest Create call
}

// generate creates rate Events a second for duration, paced by a ticker, on up to e2eWorkers
// concurrent creates; each is about a Pod of its own in namespace nss[i%len(nss)].
func generate(b *testing.B, cs kubernetes.Interface, nss []string, prefix string, rate int, duration time.Duration) loadRun {
	b.Helper()
	total := int(float64(rate) * duration.Seconds())
	run := loadRun{names: make([]string, total), created: make(map[string]time.Time, total)}
	for i := range run.names {
		run.names[i] = fmt.Sprintf("%s-%06d", prefix, i)
	}
	var (
		mu      sync.Mutex
		failed  []string
		wg      sync.WaitGroup
		slowest atomic.Int64
	)
	jobs := make(chan int, e2eWorkers)
	for range e2eWorkers {
		wg.Go(func() {
			for i := range jobs {
				name, ns := run.names[i], nss[i%len(nss)]
				at := time.Now()
				ev := backOff(ns, name, at)
				_, err := cs.EventsV1().Events(ns).Create(context.Background(), ev, metav1.CreateOptions{})
				took := time.Since(at)
				for {
					s := slowest.Load()
					if int64(took) <= s || slowest.CompareAndSwap(s, int64(took)) {
						break
					}
				}
				mu.Lock()
				run.created[name] = at
				if err != nil {
					failed = append(failed, fmt.Sprintf("%s: %v", name, err))
				}
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	tick := time.NewTicker(2 * time.Millisecond)
	for sent := 0; sent < total; {
		<-tick.C
		due := min(total, int(float64(rate)*time.Since(start).Seconds())+1)
		for ; sent < due; sent++ {
			jobs <- sent // blocks when every worker is busy: the run then falls behind its rate
		}
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
	run.achieved = float64(total) / time.Since(start).Seconds()
	run.slowest = time.Duration(slowest.Load())
	if len(failed) > 0 {
		b.Fatalf("%d of %d creates failed, first: %s", len(failed), total, failed[0])
	}
	return run
}

// latencies are the times from each creation to its sighting in seen.
func (r loadRun) latencies(seen *stamps) dist {
	out := make([]time.Duration, 0, len(r.names))
	for _, n := range r.names {
		if at, ok := seen.get(n); ok {
			out = append(out, at.Sub(r.created[n]))
		}
	}
	return newDist(out)
}

// between are the times from each name's sighting in from to its sighting in to.
func between(names []string, from, to *stamps) dist {
	out := make([]time.Duration, 0, len(names))
	for _, n := range names {
		a, ok1 := from.get(n)
		z, ok2 := to.get(n)
		if ok1 && ok2 {
			out = append(out, z.Sub(a))
		}
	}
	return newDist(out)
}

// sessionStamper serves next, noting in seen when each POST /api/sessions arrives, by the Pod
// its name is about ("khook: <type> on <pod> (hook …)").
func sessionStamper(next http.Handler, seen *stamps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/api/sessions" {
			now := time.Now()
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var req struct {
				Name string `json:"name"`
			}
			if json.Unmarshal(body, &req) == nil {
				if _, rest, ok := strings.Cut(req.Name, " on "); ok && len(strings.Fields(rest)) > 0 {
					seen.note(strings.Fields(rest)[0], now)
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// waitAll polls until every name has been seen by each of sides, or timeout passes.
func waitAll(names []string, timeout time.Duration, sides ...*stamps) error {
	var missing [][]string
	err := poll(timeout, 100*time.Millisecond, func() (bool, error) {
		missing = missing[:0]
		done := true
		for _, s := range sides {
			m := s.missing(names)
			missing = append(missing, m)
			done = done && len(m) == 0
		}
		return done, nil
	})
	if err != nil {
		var sb strings.Builder
		for i, m := range missing {
			fmt.Fprintf(&sb, " side %d: %d of %d missing (e.g. %v);", i, len(m), len(names), m[:min(3, len(m))])
		}
		return fmt.Errorf("after %s:%s", timeout, sb.String())
	}
	return nil
}

type e2eRow struct {
	rate             int
	load             loadRun
	informer, khook  dist
	session          dist  // creation → khook's session request at the front
	sessionToMessage dist  // that request → the message at the agent
	sessionConns     int64 // connections khook opened to the front
	dups             int
	audits           int64
	metrics          map[string]float64
	cpu              map[string]time.Duration // CPU time used over the rate's run and drain, by process
	wall             time.Duration
	loadAvg          string // the machine's 1-minute load average before and after
	statusMean       int    // bytes of a Hook's status (JSON) when the rate ends, on average
	statusMax        int
}

// hookStatusSizes are the mean and largest size of the Hooks' status in JSON, the body of each
// status write and of each Hook watch event.
func (e *env) hookStatusSizes(b *testing.B) (mean, largest int) {
	var list v1alpha2.HookList
	if err := e.k8s.List(context.Background(), &list); err != nil {
		b.Fatalf("listing Hooks: %v", err)
	}
	total := 0
	for _, h := range list.Items {
		data, err := json.Marshal(h.Status)
		if err != nil {
			b.Fatal(err)
		}
		total += len(data)
		largest = max(largest, len(data))
	}
	return total / max(1, len(list.Items)), largest
}

func (r e2eRow) ratio() float64 {
	if r.informer.q(0.99) == 0 {
		return 0
	}
	return float64(r.khook.q(0.99)) / float64(r.informer.q(0.99))
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func printE2E(duration time.Duration, rows []e2eRow) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n### End to end: Event created → bare informer / → agent request (%d Hooks, %s per rate)\n\n", e2eHooks, duration)
	sb.WriteString("| rate (target → achieved) | sent | informer got | khook got (dup) | informer p50 / p99 / max ms | khook p50 / p99 / max ms | p99 ratio | slowest create ms |\n")
	sb.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "| %d → %.0f/s | %d | %d | %d (%d) | %s / %s / %s | %s / %s / %s | %.2f | %s |\n",
			r.rate, r.load.achieved, len(r.load.names), len(r.informer), len(r.khook), r.dups,
			ms(r.informer.q(0.5)), ms(r.informer.q(0.99)), ms(r.informer.q(1)),
			ms(r.khook.q(0.5)), ms(r.khook.q(0.99)), ms(r.khook.q(1)), r.ratio(), ms(r.load.slowest))
	}
	sb.WriteString("\nkhook's path split at its session request (one per firing, just before the message):\n\n")
	sb.WriteString("| rate | creation → session request p50 / p99 ms | session request → message p50 / p99 ms (of each event) | connections khook opened for sessions |\n|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "| %d | %s / %s | %s / %s | %d |\n", r.rate, ms(r.session.q(0.5)), ms(r.session.q(0.99)),
			ms(r.sessionToMessage.q(0.5)), ms(r.sessionToMessage.q(0.99)), r.sessionConns)
	}
	sb.WriteString("\nkhook's own counters over each rate (audit Events: those the informer had seen when the last message arrived):\n\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "- %d/s: audit Events seen %d, status writes %v (a Hook's status at the end: %d B mean, %d B largest), sends %v, send seconds (sum/count) %.3f/%.0f, audit dropped %v\n",
			r.rate, r.audits, r.metrics["khook_status_writes_total{written}"], r.statusMean, r.statusMax, r.metrics["khook_agent_sends_total{accepted}"],
			r.metrics["khook_agent_send_duration_seconds_sum"], r.metrics["khook_agent_send_duration_seconds_count"],
			r.metrics["khook_audit_events_dropped_total"])
	}
	sb.WriteString("\nCores busy over each rate's run and drain (the machine's cores are shared by all of them):\n\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "- %d/s over %s (load average %s):", r.rate, r.wall.Round(100*time.Millisecond), r.loadAvg)
		names := make([]string, 0, len(r.cpu))
		for name := range r.cpu {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Fprintf(&sb, " %s %.2f;", name, r.cpu[name].Seconds()/r.wall.Seconds())
		}
		sb.WriteString("\n")
	}
	fmt.Print(sb.String())
}
