package perf

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/khook-dev/khook/test/echoagent"
)

// coldSize is one cold start: hooks Hooks and events Events in the API server before start.
type coldSize struct{ hooks, events int }

// coldSizes are KHOOK_PERF_COLD ("10x0,100x1000": Hooks x Events) or every pair of
// {10, 100, 1000} Hooks and {0, 1000, 10000} Events.
func coldSizes(b *testing.B) []coldSize {
	if s := os.Getenv("KHOOK_PERF_COLD"); s != "" {
		var out []coldSize
		for _, pair := range strings.Split(s, ",") {
			h, ev, ok := strings.Cut(strings.TrimSpace(pair), "x")
			n, err1 := strconv.Atoi(h)
			m, err2 := strconv.Atoi(ev)
			if !ok || err1 != nil || err2 != nil || n <= 0 || m < 0 {
				b.Fatalf("KHOOK_PERF_COLD: %q is not HOOKSxEVENTS", pair)
			}
			out = append(out, coldSize{n, m})
		}
		return out
	}
	var out []coldSize
	for _, n := range []int{10, 100, 1000} {
		for _, m := range []int{0, 1000, 10000} {
			out = append(out, coldSize{n, m})
		}
	}
	return out
}

// BenchmarkColdStart times khook's start with N Hooks and M Events already in the API server,
// each size on a control plane of its own. The Hooks are one per namespace, each with an agent
// of its own. A first start meets the Hooks new (no Event yet) and accepts them; it stops, the
// Events are created, and a second start, the restart timed with M Events, follows. The Events
// are recent crash-loop Events about Pods of their own, spread over the Hooks' namespaces, so
// each is news khook must tell an agent about once it runs (a controller restarted in the middle
// of a storm). Ready is (*app.Khook).Ready(): the Hooks are loaded and the event sources run
// (their informers listed and synced); "caught up" is when the agent has had one message for
// every Event.
func BenchmarkColdStart(b *testing.B) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		b.Skip("KUBEBUILDER_ASSETS is not set: run `make bench`, which builds kube-apiserver and etcd and sets it")
	}
	var rows []coldRow
	for _, size := range coldSizes(b) {
		b.Run(fmt.Sprintf("hooks=%d/events=%d", size.hooks, size.events), func(b *testing.B) {
			row := coldStart(b, size)
			rows = append(rows, row)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(msf(row.firstReady), "first-ready-ms")
			b.ReportMetric(msf(row.ready), "ready-ms")
			b.ReportMetric(msf(row.caughtUp), "caught-up-ms")
		})
	}
	printCold(rows)
}

type coldRow struct {
	size            coldSize
	prepare, setup  time.Duration
	firstReady      time.Duration // the first start, every Hook new to khook
	ready, caughtUp time.Duration // the restart
	caughtUpMissing int
	eventRate       float64
}

func coldStart(b *testing.B, size coldSize) coldRow {
	e := startEnv(b)
	row := coldRow{size: size}
	began := time.Now()
	nss, err := e.setUpHooks("cold", size.hooks)
	if err != nil {
		b.Fatalf("creating the Hooks: %v", err)
	}
	agent := echoagent.Start(echoagent.Options{})
	b.Cleanup(agent.Close)
	agent.SetBehavior("", echoagent.Behavior{AnswerWithMessage: true})
	seen := newStamps()
	agent.OnCall(func(r echoagent.Received) { seen.note(podOfPrompt(r.Text), time.Now()) })

	// The first start meets Hooks no khook has seen, and accepts each; it then stops, so that
	// the second start is a restart: the Hooks accepted, the Events new since.
	first := e.startKhook(b, perfOptions(agent.URL))
	row.firstReady = first.waitReady(b, 5*time.Minute)
	if err := e.waitAccepted(size.hooks, 5*time.Minute); err != nil {
		b.Fatal(err)
	}
	first.Stop(b)

	pods := make([]string, size.events)
	eventsBegan := time.Now()
	if err := createAll(size.events, 64, func(i int) error {
		pods[i] = fmt.Sprintf("cold-%06d", i)
		ns := nss[i%len(nss)]
		_, err := e.cs.EventsV1().Events(ns).Create(context.Background(), backOff(ns, pods[i], time.Now()), metav1.CreateOptions{})
		return err
	}); err != nil {
		b.Fatalf("creating the Events: %v", err)
	}
	row.eventRate = float64(size.events) / time.Since(eventsBegan).Seconds()
	row.prepare = time.Since(began)

	k := e.startKhook(b, perfOptions(agent.URL))
	row.setup = k.setup
	row.ready = k.waitReady(b, 5*time.Minute)
	if err := waitAll(pods, 5*time.Minute, seen); err != nil {
		row.caughtUpMissing = len(seen.missing(pods))
		b.Logf("not caught up: %v", err)
		return row
	}
	for _, p := range pods {
		if at, _ := seen.get(p); at.Sub(k.started) > row.caughtUp {
			row.caughtUp = at.Sub(k.started)
		}
	}
	if size.events == 0 {
		row.caughtUp = row.ready
	}
	return row
}

func printCold(rows []coldRow) {
	var sb strings.Builder
	sb.WriteString("\n### Cold start: manager Start → khook Ready, and → every existing Event at the agent\n\n")
	sb.WriteString("| Hooks | Events before start | first start → Ready ms (no Events yet) | setup ms | restart → Ready ms | restart → caught up ms | (Events created at /s) |\n")
	sb.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		caught := ms(r.caughtUp)
		if r.caughtUpMissing > 0 {
			caught = fmt.Sprintf("%d missing after 5 min", r.caughtUpMissing)
		}
		fmt.Fprintf(&sb, "| %d | %d | %s | %s | %s | %s | %.0f |\n", r.size.hooks, r.size.events, ms(r.firstReady), ms(r.setup), ms(r.ready), caught, r.eventRate)
	}
	sb.WriteString("\nfirst start: Hooks just created, no Event yet; the start writes each Hook's Accepted condition.\n")
	sb.WriteString("restart: a second manager once the first has accepted every Hook and stopped, and the Events were created.\n")
	sb.WriteString("setup: ctrl.NewManager + app.SetupWithManager of the restart, before Start.\n")
	fmt.Print(sb.String())
}
