package perf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/app"
)

// prompt is the prompt of every Hook: the Pod's name comes first so that the agent side can tell
// which event a message is about.
const prompt = "Pod {{.ResourceName}} in {{.Namespace}} restarted: {{.Message}}"

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	must(clientgoscheme.AddToScheme(s))
	must(v1alpha2.AddToScheme(s))
	return s
}()

func init() { log.SetLogger(logr.Discard()) }

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// env is one envtest control plane and clients of it without client-side rate limiting (as
// controller-runtime's config.GetConfig gives khook in a cluster: API Priority and Fairness
// applies, and envtest's admin user is exempt from it).
type env struct {
	cfg *rest.Config
	k8s client.Client
	cs  kubernetes.Interface
}

// startEnv starts a control plane with khook's CRD; the benchmark's end stops it. It skips the
// benchmark when KUBEBUILDER_ASSETS is not set.
func startEnv(b *testing.B) *env {
	b.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		b.Skip("KUBEBUILDER_ASSETS is not set: run `make bench`, which builds kube-apiserver and etcd and sets it")
	}
	te := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "charts", "khook", "crds")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	cfg, err := te.Start()
	if err != nil {
		b.Fatalf("starting envtest: %v", err)
	}
	b.Cleanup(func() {
		if err := te.Stop(); err != nil {
			b.Logf("stopping envtest: %v", err)
		}
	})
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	k, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		b.Fatalf("creating a client: %v", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatalf("creating a clientset: %v", err)
	}
	return &env{cfg: cfg, k8s: k, cs: cs}
}

// khookRun is one manager running khook.
type khookRun struct {
	khook   *app.Khook
	started time.Time // just before mgr.Start
	setup   time.Duration
	done    chan error
	stop    context.CancelFunc
	stopped bool
}

// startKhook builds a manager with khook on e and starts it; the benchmark's end stops it (and
// fails the benchmark when the manager fails).
func (e *env) startKhook(b *testing.B, opts app.Options) *khookRun {
	b.Helper()
	begin := time.Now()
	mgr, err := ctrl.NewManager(e.cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  app.CacheOptions(), // as cmd/khook runs it
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		Logger:                 logr.Discard(),
	})
	if err != nil {
		b.Fatalf("creating manager: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	k, err := app.SetupWithManager(ctx, mgr, opts)
	if err != nil {
		cancel()
		b.Fatalf("SetupWithManager: %v", err)
	}
	r := &khookRun{khook: k, done: make(chan error, 1), stop: cancel, setup: time.Since(begin)}
	r.started = time.Now()
	go func() { r.done <- mgr.Start(ctx) }()
	b.Cleanup(func() { r.Stop(b) })
	return r
}

// Stop stops the manager and waits for it; the benchmark fails when the manager failed. Only
// the first call does anything.
func (r *khookRun) Stop(b *testing.B) {
	if r.stopped {
		return
	}
	r.stopped = true
	r.stop()
	select {
	case err := <-r.done:
		if err != nil {
			b.Errorf("manager stopped with %v", err)
		}
	case <-time.After(time.Minute):
		b.Errorf("manager did not stop within a minute")
	}
}

// waitReady waits until khook's sources run and returns how long that took since mgr.Start.
func (r *khookRun) waitReady(b *testing.B, timeout time.Duration) time.Duration {
	b.Helper()
	select {
	case <-r.khook.Ready():
		return time.Since(r.started)
	case err := <-r.done:
		b.Fatalf("manager stopped before khook was ready: %v", err)
	case <-time.After(timeout):
		b.Fatalf("khook was not ready after %s", timeout)
	}
	return 0
}

// perfOptions are khook's production defaults but for the agent's address, the user, and a
// short shutdown: the agent answers with a message at once (see the benchmarks), so no task is
// polled and the defaults for polling and ticks do not bear on the path measured.
func perfOptions(kagentURL string) app.Options {
	return app.Options{KagentURL: kagentURL, UserID: "perf@khook.dev", ShutdownTimeout: 5 * time.Second}
}

// hookFor is the Hook of namespace ns: pod-restart events go to agent kagent/<agent>.
func hookFor(ns, agent string) *v1alpha2.Hook {
	return &v1alpha2.Hook{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "perf"},
		Spec: v1alpha2.HookSpec{EventConfigurations: []v1alpha2.EventConfiguration{{
			EventType: "pod-restart", AgentRef: &v1alpha2.AgentReference{Namespace: "kagent", Name: agent}, Prompt: prompt,
			GroupWait: &metav1.Duration{}, // the latency measured is khook's, not a group wait's
		}}},
	}
}

// backOff is the Event the kubelet writes about a crash-looping container of Pod ns/pod, named
// after the Pod. The Pod need not exist: the Kubernetes source reports an Event about a Pod it
// does not know (it has nothing of the Pod to follow, so nothing is resolved by its status).
func backOff(ns, pod string, at time.Time) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Namespace: ns, Name: pod},
		EventTime:           metav1.NewMicroTime(at),
		ReportingController: "kubelet",
		ReportingInstance:   "node-1",
		Action:              "Restarting",
		Reason:              "BackOff",
		Note:                "Back-off restarting failed container app in pod " + pod,
		Type:                corev1.EventTypeWarning,
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod, APIVersion: "v1"},
	}
}

// podOfPrompt reads the Pod's name back from a message the agent received (see prompt).
func podOfPrompt(text string) string {
	f := strings.Fields(text)
	if len(f) < 2 || f[0] != "Pod" {
		return ""
	}
	return f[1]
}

// createAll runs create(i) for i in [0, n) on workers goroutines and returns the first error.
func createAll(n, workers int, create func(i int) error) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := create(i); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("object %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// setUpHooks creates n namespaces named prefix-000…, each with the Hook hookFor(ns, agent i),
// and returns the namespaces.
func (e *env) setUpHooks(prefix string, n int) ([]string, error) {
	nss := make([]string, n)
	for i := range nss {
		nss[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	ctx := context.Background()
	err := createAll(n, 32, func(i int) error {
		if err := e.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nss[i]}}); err != nil {
			return err
		}
		return e.k8s.Create(ctx, hookFor(nss[i], fmt.Sprintf("agent-%04d", i)))
	})
	return nss, err
}

// poll calls check every interval until it says done or returns an error, or timeout passes.
func poll(timeout, interval time.Duration, check func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		<-tick.C
	}
}

// waitAccepted waits until every Hook has its Accepted condition for its generation, so that the
// reconciler's start-up writes are over before anything is timed.
func (e *env) waitAccepted(n int, timeout time.Duration) error {
	var seen int
	err := poll(timeout, 200*time.Millisecond, func() (bool, error) {
		var list v1alpha2.HookList
		if err := e.k8s.List(context.Background(), &list); err != nil {
			return false, err
		}
		seen = 0
		for _, h := range list.Items {
			for _, c := range h.Status.Conditions {
				if c.Type == "Accepted" && c.ObservedGeneration == h.Generation {
					seen++
					break
				}
			}
		}
		return seen >= n, nil
	})
	if err != nil {
		return fmt.Errorf("%d of %d Hooks accepted: %w", seen, n, err)
	}
	return nil
}

// stamps keeps the first instant each name was seen at.
type stamps struct {
	mu   sync.Mutex
	at   map[string]time.Time
	dups int
}

func newStamps() *stamps { return &stamps{at: map[string]time.Time{}} }

func (s *stamps) note(name string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.at[name]; ok {
		s.dups++
		return
	}
	s.at[name] = t
}

func (s *stamps) get(name string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.at[name]
	return t, ok
}

// missing lists the names not seen yet.
func (s *stamps) missing(names []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range names {
		if _, ok := s.at[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}

func (s *stamps) duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dups
}

// dist is a sorted sample of latencies.
type dist []time.Duration

func newDist(d []time.Duration) dist {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d
}

// q is the nearest-rank quantile p (0 < p ≤ 1).
func (d dist) q(p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(float64(len(d))*p+0.999999) - 1
	return d[max(0, min(i, len(d)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// counters sums khook's counters (and gauges) by metric name, over every label, from
// controller-runtime's registry, which khook's metrics use.
func counters() map[string]float64 {
	out := map[string]float64{}
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		return out
	}
	for _, mf := range families {
		if !strings.HasPrefix(mf.GetName(), "khook_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" {
					key += "{" + l.GetValue() + "}"
				}
			}
			switch {
			case m.GetCounter() != nil:
				out[key] += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[key+"_count"] += float64(m.GetHistogram().GetSampleCount())
				out[key+"_sum"] += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

// delta is after − before for each key that changed.
func delta(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// cpuTimes is the CPU time used so far by this process and by its children (kube-apiserver and
// etcd), by command name, from /proc (Linux; empty elsewhere). The load competes with the
// control plane for the same cores, so a rate's CPU use tells how near saturation it ran.
func cpuTimes() map[string]time.Duration {
	out := map[string]time.Duration{}
	pids := []string{"self"}
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err == nil {
			pids = append(pids, strings.Fields(string(data))...)
		}
	}
	for _, pid := range pids {
		data, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid … utime stime: fields 14 and 15, counted after the ")".
		s := string(data)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		name, fields := s[open+1:closing], strings.Fields(s[closing+1:])
		if pid == "self" {
			name = "khook+generator+informer (test process)"
		}
		if len(fields) < 13 {
			continue
		}
		var utime, stime int64
		_, err1 := fmt.Sscan(fields[11], &utime)
		_, err2 := fmt.Sscan(fields[12], &stime)
		if err1 != nil || err2 != nil {
			continue
		}
		out[name] += time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
	}
	return out
}

// loadAverage is the machine's 1-minute load average ("?" where /proc has none): other work on
// a shared machine takes the cores the benchmark measures with.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
