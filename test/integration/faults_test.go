package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/test/echoagent"
)

// Faults on real parts: the API server stopped and started again, a controller cut off from it
// until its watches expire, and Hook status written by someone else. Each test counts the agent
// calls per firing: exactly one, none lost.
//
// The tests that stop the API server or cut khook off run on a control plane of their own
// (faultEnv), so that the package's shared one is never disturbed. While such a test runs,
// the package's client and rest.Config point at its control plane (useCluster): the helpers
// work unchanged, and tests in this package never run in parallel.

// faultEnv is an API server and etcd of a test's own, which the test may stop and start again.
type faultEnv struct {
	env *envtest.Environment
	cfg *rest.Config
}

// startFaultEnv starts a control plane for one test, with extra kube-apiserver flags, and
// points the package's helpers at it until the test ends.
func startFaultEnv(t *testing.T, apiServerFlags map[string]string) *faultEnv {
	t.Helper()
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "charts", "khook", "crds")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	api := env.ControlPlane.GetAPIServer()
	// A directory of the test's own keeps the serving certificate and the client CA across a
	// restart (envtest makes new ones for a directory it created), so every client keeps working.
	api.CertDir = t.TempDir()
	// A graceful stop waits for the requests under way, watches included, up to the request
	// timeout (1m by default): keep it short, or every stop takes a minute.
	api.Configure().Set("request-timeout", "5s")
	for k, v := range apiServerFlags {
		api.Configure().Set(k, v)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting a control plane for the test: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the test's control plane: %v", err)
		}
	})
	useCluster(t, cfg)
	return &faultEnv{env: env, cfg: cfg}
}

// useCluster points the package's client and rest.Config, and so every helper, at cfg until
// the test ends.
func useCluster(t *testing.T, cfg *rest.Config) {
	t.Helper()
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatalf("creating a client: %v", err)
	}
	savedConfig, savedClient := restConfig, k8s
	restConfig, k8s = cfg, c
	t.Cleanup(func() { restConfig, k8s = savedConfig, savedClient })
}

// restartAPIServer stops the API server, runs during while it is down, and starts it again on
// the same address with the same certificates (etcd keeps running, so nothing is lost).
func (f *faultEnv) restartAPIServer(t *testing.T, during func()) {
	t.Helper()
	api := f.env.ControlPlane.APIServer
	began := time.Now()
	if err := api.Stop(); err != nil {
		t.Fatalf("stopping the API server: %v", err)
	}
	t.Logf("the API server took %s to stop", time.Since(began).Round(time.Millisecond))
	during()
	if err := api.Start(); err != nil {
		t.Fatalf("starting the API server again: %v", err)
	}
	eventually(t, 30*time.Second, func() error {
		var list v1alpha2.HookList
		return k8s.List(context.Background(), &list)
	})
}

// compactEtcd writes a key of its own to etcd and compacts its history up to that write: a
// watch that resumes from any earlier resource version is told it expired (410 Gone), as
// after a long partition, and its client must list again. It goes to etcd's JSON gateway, so
// it works while the API server is down too.
func (f *faultEnv) compactEtcd(t *testing.T) {
	t.Helper()
	etcd := f.env.ControlPlane.Etcd.URL.String()
	call := func(path string, body any, out any) {
		t.Helper()
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(etcd+path, "application/json", bytes.NewReader(data))
		if err != nil {
			t.Fatalf("etcd %s: %v", path, err)
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("etcd %s: %s %s", path, resp.Status, answer)
		}
		if err := json.Unmarshal(answer, out); err != nil {
			t.Fatalf("etcd %s answered %s: %v", path, answer, err)
		}
	}
	var put struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	key := base64.StdEncoding.EncodeToString([]byte("/khook-test/compaction"))
	call("/v3/kv/put", map[string]string{"key": key, "value": base64.StdEncoding.EncodeToString([]byte(time.Now().String()))}, &put)
	var compacted map[string]any
	call("/v3/kv/compaction", map[string]any{"revision": put.Header.Revision, "physical": true}, &compacted)
}

// partition is a TCP proxy between a controller and the API server that the test can cut, as a
// network partition of the controller alone: its connections are closed and new ones refused,
// while the test's own client still reaches the API server.
type partition struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
}

func startPartition(t *testing.T, apiHost string) *partition {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &partition{ln: ln, target: strings.TrimSuffix(strings.TrimPrefix(apiHost, "https://"), "/"), conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
	})
	return p
}

// config is cfg going through the proxy.
func (p *partition) config(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Host = "https://" + p.ln.Addr().String()
	return c
}

func (p *partition) serve() {
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(down)
	}
}

func (p *partition) pipe(down net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		down.Close()
		return
	}
	if !p.track(down, up) {
		down.Close()
		up.Close()
		return
	}
	go func() { _, _ = io.Copy(up, down); up.Close() }()
	_, _ = io.Copy(down, up)
	down.Close()
	p.mu.Lock()
	delete(p.conns, down)
	delete(p.conns, up)
	p.mu.Unlock()
}

func (p *partition) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	for _, c := range conns {
		p.conns[c] = true
	}
	return true
}

// Cut closes every connection through the proxy and refuses new ones until Heal.
func (p *partition) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// Heal lets connections through again.
func (p *partition) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// requestCounter counts a controller's requests to the API server, and the writes it refused.
type requestCounter struct {
	mu      sync.Mutex
	counts  map[string]int
	refused []string // "<method> <path>: <status>" of each write answered with an error
}

// counting returns cfg with every request counted, by method and path (the resource without its
// object name), and as "LIST <path>" for each list or streamed list (a relist).
func counting(cfg *rest.Config) (*rest.Config, *requestCounter) {
	rc := &requestCounter{counts: map[string]int{}}
	c := rest.CopyConfig(cfg)
	c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			rc.count(req)
			resp, err := rt.RoundTrip(req)
			if req.Method != http.MethodGet && err == nil && resp.StatusCode >= 400 {
				rc.mu.Lock()
				rc.refused = append(rc.refused, fmt.Sprintf("%s %s: %s", req.Method, req.URL.Path, resp.Status))
				rc.mu.Unlock()
			}
			return resp, err
		})
	}
	return c, rc
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func (rc *requestCounter) count(req *http.Request) {
	q := req.URL.Query()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.counts[req.Method+" "+req.URL.Path]++
	if req.Method == http.MethodGet && (q.Get("watch") != "true" || q.Get("sendInitialEvents") == "true") {
		rc.counts["LIST "+req.URL.Path]++
	}
}

// writes counts every request but reads.
func (rc *requestCounter) writes() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for k, c := range rc.counts {
		if !strings.HasPrefix(k, http.MethodGet+" ") && !strings.HasPrefix(k, "LIST ") {
			n += c
		}
	}
	return n
}

// refusedWrites lists the writes the API server answered with an error.
func (rc *requestCounter) refusedWrites() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.refused)
}

// get returns the count of key ("PATCH /apis/…", "LIST /api/v1/pods").
func (rc *requestCounter) get(key string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.counts[key]
}

// statusWrites counts the writes to the status of Hook ns/name: merge patches of the fields
// khook owns, and updates of conditions.
func (rc *requestCounter) statusWrites(ns, name string) (patches, updates int) {
	path := fmt.Sprintf("/apis/kagent.dev/v1alpha2/namespaces/%s/hooks/%s/status", ns, name)
	return rc.get(http.MethodPatch + " " + path), rc.get(http.MethodPut + " " + path)
}

// investigationWrites counts the writes of Investigation name's status.
func (rc *requestCounter) investigationWrites(ns, name string) int {
	return rc.get(http.MethodPut + " " + fmt.Sprintf("/apis/kagent.dev/v1alpha2/namespaces/%s/investigations/%s/status", ns, name))
}

// The lists an informer makes of each type khook watches.
const (
	listEvents = "LIST /apis/events.k8s.io/v1/events"
	listPods   = "LIST /api/v1/pods"
	listHooks  = "LIST /apis/kagent.dev/v1alpha2/hooks"
)

var sentinels atomic.Int64

// everyFiringOnce waits until agent has received exactly one message about each pod, then,
// once a sentinel has gone through (so nothing about them is still on its way), checks that it
// is still exactly one.
func everyFiringOnce(t *testing.T, agentSrv *echoagent.Server, agent, ns string, pods ...string) {
	t.Helper()
	eventually(t, 60*time.Second, func() error {
		for _, pod := range pods {
			if n := receivedFor(agentSrv, agent, pod); n != 1 {
				return fmt.Errorf("%s was told of %s %d times, want once", agent, pod, n)
			}
		}
		return nil
	})
	sendSentinel(t, agentSrv, agent, ns, fmt.Sprintf("sentinel-%d", sentinels.Add(1)))
	for _, pod := range pods {
		if n := receivedFor(agentSrv, agent, pod); n != 1 {
			t.Fatalf("%s was told of %s %d times, want exactly once", agent, pod, n)
		}
	}
}

// completedOnStatus waits until the Hook's status shows agent's delivery of each pod's firing
// completed after one attempt.
func completedOnStatus(t *testing.T, ns, hookName, agent string, pods ...string) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		for _, pod := range pods {
			_, d, err := deliveryOf(t, ns, hookName, pod, agent)
			if err != nil {
				return err
			}
			if d.State != v1alpha2.DeliveryState("completed") || d.Attempts != 1 {
				return fmt.Errorf("the ledger of %s says %+v, want completed after one attempt", pod, d)
			}
		}
		return nil
	})
}

func TestAnAPIServerRestartLosesNoEventAndRepeatsNone(t *testing.T) {
	fe := startFaultEnv(t, nil)
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	hold := make(chan struct{})
	agent.SetBehavior("kagent/held-agent", echoagent.Behavior{Hold: hold, Summary: "root cause found while the API server was down"})
	cfg, requests := counting(fe.cfg)
	startManagerWithConfig(t, cfg, fastOptions(agent.URL), nil).waitReady(t)
	create(t, newHook(ns, "outage", "outage-agent", restartPrompt, "pod-restart"))
	// A Hook of its own for an investigation that ends during the outage: no later firing of
	// the other Hook can write its status by the way.
	create(t, newHook(ns, "held", "held-agent", restartPrompt, "oom-kill"))
	waitAccepted(t, ns, "outage")
	waitAccepted(t, ns, "held")

	create(t, backOffEvent(ns, "web-before"))
	create(t, podEvent(ns, "db-held", "OOMKilling", "Memory cgroup out of memory: Killed process 7 (postgres)"))
	received(t, agent, "kagent/outage-agent", 1)
	taskAtWork(t, ns, "held", "db-held", "kagent/held-agent")
	// Events khook may or may not see before the API server goes away.
	for i := range 3 {
		create(t, backOffEvent(ns, fmt.Sprintf("web-racing-%d", i)))
	}

	held, err := investigationOf(t, ns, "held", "db-held")
	if err != nil {
		t.Fatal(err)
	}
	var during time.Time
	fe.restartAPIServer(t, func() {
		during = time.Now()
		writes := requests.investigationWrites(ns, held.Name)
		close(hold) // the investigation ends while khook cannot write it
		// khook learns it by polling the agent, and tries to write it: the write fails.
		eventually(t, 30*time.Second, func() error {
			if n := requests.investigationWrites(ns, held.Name); n == writes {
				return fmt.Errorf("khook has not tried to write the held investigation's end yet")
			}
			return nil
		})
	})
	// Events the kubelet would have written during the outage, written as soon as it can.
	for i := range 2 {
		ev := backOffEvent(ns, fmt.Sprintf("web-during-%d", i))
		ev.EventTime = metav1.NewMicroTime(during)
		create(t, ev)
	}
	create(t, backOffEvent(ns, "web-after"))

	pods := []string{"web-before", "web-racing-0", "web-racing-1", "web-racing-2", "web-during-0", "web-during-1", "web-after"}
	everyFiringOnce(t, agent, "kagent/outage-agent", ns, pods...)
	completedOnStatus(t, ns, "outage", "kagent/outage-agent", pods...)
	// The end khook learned while it could not write is written once it can.
	eventually(t, 30*time.Second, func() error {
		_, d, err := deliveryOf(t, ns, "held", "db-held", "kagent/held-agent")
		if err != nil {
			return err
		}
		if d.State != "completed" || d.Summary != "root cause found while the API server was down" {
			return fmt.Errorf("the held investigation's ledger says %+v, want it completed with its summary", d)
		}
		return nil
	})
	if n := len(agent.ReceivedBy("kagent/held-agent")); n != 1 {
		t.Fatalf("the held agent got %d messages, want 1", n)
	}
}

// taskAtWork waits until the Hook's ledger shows agent at work on pod's firing.
func taskAtWork(t *testing.T, ns, hookName, pod, agent string) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		_, d, err := deliveryOf(t, ns, hookName, pod, agent)
		if err != nil {
			return err
		}
		if d.State != "working" && d.State != "submitted" || d.TaskID == "" {
			return fmt.Errorf("delivery = %+v, want the task at work", d)
		}
		return nil
	})
}

// crashLoopingPod creates Pod name with a container waiting in CrashLoopBackOff.
func crashLoopingPod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
	}
	create(t, pod)
	setRestarts(t, pod, 3)
	return pod
}

// setRestarts writes pod's status: its container crash-looping after restarts restarts.
func setRestarts(t *testing.T, pod *corev1.Pod, restarts int32) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		pod.Status.Phase = corev1.PodRunning
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: "app:1", RestartCount: restarts,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				Reason: "Error", ExitCode: 1, FinishedAt: metav1.Now()}}}}
		return k8s.Status().Update(context.Background(), pod)
	})
	if err != nil {
		t.Fatalf("writing the status of pod %s: %v", pod.Name, err)
	}
}

// bumpSeries records a repeat of ev observed now, as the events.k8s.io recorder does: the
// same Event object, its series count raised.
func bumpSeries(t *testing.T, ev *eventsv1.Event, count int32) {
	t.Helper()
	patch := fmt.Sprintf(`{"series":{"count":%d,"lastObservedTime":%q}}`, count, time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00"))
	if err := k8s.Patch(context.Background(), ev, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatalf("bumping the series of %s: %v", ev.Name, err)
	}
}

func TestAfterItsWatchesExpireKhookListsAgainSendsNothingTwiceAndCatchesUp(t *testing.T) {
	// Without the watch cache, watches are served by etcd, whose compaction expires them.
	fe := startFaultEnv(t, map[string]string{"watch-cache": "false"})
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	network := startPartition(t, fe.cfg.Host)
	cfg, requests := counting(network.config(fe.cfg))
	startManagerWithConfig(t, cfg, fastOptions(agent.URL), nil).waitReady(t)
	create(t, newHook(ns, "relist", "relist-agent", restartPrompt, "pod-restart"))
	waitAccepted(t, ns, "relist")

	// Handled before the partition: an Event, a crash-looping Pod, and one that will be deleted.
	repeated := backOffEvent(ns, "web-1")
	create(t, repeated)
	crashy := crashLoopingPod(t, ns, "crashy")
	doomed := crashLoopingPod(t, ns, "doomed")
	everyFiringOnce(t, agent, "kagent/relist-agent", ns, "web-1", "crashy", "doomed")
	lists := map[string]int{}
	for _, l := range []string{listEvents, listPods, listHooks} {
		lists[l] = requests.get(l)
	}

	network.Cut()
	// What khook does not see: the Event repeats, the crash loop goes on, a Pod is deleted, and
	// new trouble arrives. Then etcd forgets the history khook's watches would resume from.
	bumpSeries(t, repeated, 2)
	setRestarts(t, crashy, 4)
	if err := k8s.Delete(context.Background(), doomed, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	create(t, backOffEvent(ns, "web-2"))
	fe.compactEtcd(t)
	network.Heal()

	eventually(t, 60*time.Second, func() error {
		for l, before := range lists {
			if requests.get(l) == before {
				return fmt.Errorf("khook has not listed again: %s", l)
			}
		}
		return nil
	})
	everyFiringOnce(t, agent, "kagent/relist-agent", ns, "web-1", "crashy", "doomed", "web-2")
	eventually(t, 30*time.Second, func() error {
		for _, a := range hookStatus(t, ns, "relist").ActiveEvents {
			if a.ResourceName == "doomed" {
				if a.Status != v1alpha2.EventResolved || a.ResolvedReason != "deleted" {
					return fmt.Errorf("doomed, deleted while khook could not see it, is %s (%s)", a.Status, a.ResolvedReason)
				}
				return nil
			}
		}
		return fmt.Errorf("no active event for doomed")
	})
	eventually(t, 30*time.Second, func() error { // the repeats are counted, not sent
		for _, a := range hookStatus(t, ns, "relist").ActiveEvents {
			if a.ResourceName == "web-1" {
				if a.Occurrences != 2 {
					return fmt.Errorf("web-1 has %d occurrences, want 2 (its repeat while khook could not see)", a.Occurrences)
				}
				return nil
			}
		}
		return fmt.Errorf("no active event for web-1")
	})
}

// texts lists what agent received, in order.
func texts(agentSrv *echoagent.Server, agent string) []string {
	var out []string
	for _, r := range agentSrv.ReceivedBy(agent) {
		out = append(out, r.Text)
	}
	return out
}

func TestAHookDeletedAndRecreatedWhileKhookCannotSeeItStartsAfresh(t *testing.T) {
	fe := startFaultEnv(t, map[string]string{"watch-cache": "false"})
	ns := newNamespace(t)
	agent := startAgent(t, echoagent.Options{})
	network := startPartition(t, fe.cfg.Host)
	cfg, requests := counting(network.config(fe.cfg))
	startManagerWithConfig(t, cfg, fastOptions(agent.URL), nil).waitReady(t)
	old := newHook(ns, "replaced", "replaced-agent", "v1: Pod {{.ResourceName}} restarted", "pod-restart")
	create(t, old)
	waitAccepted(t, ns, "replaced")
	create(t, backOffEvent(ns, "web-1"))
	first := received(t, agent, "kagent/replaced-agent", 1)[0]
	completedOnStatus(t, ns, "replaced", "kagent/replaced-agent", "web-1")
	lists := requests.get(listHooks)

	network.Cut()
	// The Hook is deleted and created again with another prompt; khook sees neither: when it
	// lists again, the Hook of that name has another UID and the same generation (1).
	if err := k8s.Delete(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	recreated := newHook(ns, "replaced", "replaced-agent", "v2: Pod {{.ResourceName}} restarted", "pod-restart")
	create(t, recreated)
	fe.compactEtcd(t)
	network.Heal()
	eventually(t, 60*time.Second, func() error {
		if requests.get(listHooks) == lists {
			return fmt.Errorf("khook has not listed the Hooks again")
		}
		return nil
	})

	// khook has the new Hook (it wrote the new object's Accepted condition): an event it took
	// before would count for the old Hook it still held, and web-1 would wait for its next
	// re-assertion.
	waitAccepted(t, ns, "replaced")

	// The trouble goes on, and more arrives: both are news for the new Hook, told with its prompt.
	create(t, backOffEvent(ns, "web-1"))
	create(t, backOffEvent(ns, "web-2"))
	want := []string{"v1: Pod web-1 restarted", "v2: Pod web-1 restarted", "v2: Pod web-2 restarted"}
	eventually(t, 30*time.Second, func() error {
		got := texts(agent, "kagent/replaced-agent")
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("the agent received %q, want %q: the recreated Hook starts afresh, with its own prompt", got, want)
		}
		return nil
	})
	var again echoagent.Received
	for _, r := range agent.ReceivedBy("kagent/replaced-agent") {
		if r.Text == "v2: Pod web-1 restarted" {
			again = r
		}
	}
	if again.MessageID == first.MessageID {
		t.Fatalf("the recreated Hook's message about web-1 reused the deleted Hook's message id %s", first.MessageID)
	}
	if c := waitAccepted(t, ns, "replaced"); c.Status != metav1.ConditionTrue {
		t.Fatalf("the recreated Hook is not accepted: %+v", c)
	}
	completedOnStatus(t, ns, "replaced", "kagent/replaced-agent", "web-1", "web-2")
	if _, d, _ := deliveryOf(t, ns, "replaced", "web-1", "kagent/replaced-agent"); d.MessageID != again.MessageID {
		t.Fatalf("the recreated Hook's ledger shows message %s for web-1, want its own %s", d.MessageID, again.MessageID)
	}
}
