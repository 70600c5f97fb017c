package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/khook-dev/khook/adapters/a2a"
	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/app"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/test/echoagent"
)

var (
	restConfig *rest.Config
	k8s        client.Client
	scheme     = runtime.NewScheme()
	nsCounter  atomic.Int64
)

func TestMain(m *testing.M) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run `make test`, which builds kube-apiserver and etcd and sets it")
		os.Exit(1)
	}
	log.SetLogger(logr.Discard())
	must(clientgoscheme.AddToScheme(scheme))
	must(v1alpha2.AddToScheme(scheme))
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "charts", "khook", "crds")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting envtest: %v\n", err)
		os.Exit(1)
	}
	restConfig = cfg
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	must(err)
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
	}
	os.Exit(code)
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// fastOptions are Options with every loop quick, for tests.
func fastOptions(kagentURL string) app.Options {
	return app.Options{
		KagentURL:      kagentURL,
		UserID:         "tester@khook.dev",
		RequestTimeout: 10 * time.Second,
		Retry:          a2a.RetryPolicy{InitialInterval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond, MaxRetries: 3},
		Breaker:        a2a.BreakerSettings{ConsecutiveFailures: 3, OpenFor: 500 * time.Millisecond},
		Delivery: delivery.Options{
			RetryInitial: 200 * time.Millisecond, RetryMax: time.Second,
			PollInitial: 50 * time.Millisecond, PollMax: 200 * time.Millisecond,
		},
		DedupWindow:         time.Minute,
		CleanupInterval:     100 * time.Millisecond,
		StatusFlushInterval: 500 * time.Millisecond,
		StatusCoalesceDelay: 20 * time.Millisecond,
		TickInterval:        20 * time.Millisecond,
		ShutdownTimeout:     10 * time.Second,
	}
}

// controller is one running khook manager.
type controller struct {
	khook   *app.Khook
	stop    context.CancelFunc
	done    chan error
	name    string
	stopped bool
}

// startKhook starts a manager with khook on envtest and waits until its event sources run; the
// test's end stops it.
func startKhook(t testing.TB, opts app.Options) *controller {
	t.Helper()
	c := startManager(t, opts, nil)
	c.waitReady(t)
	return c
}

// startManager starts a manager with khook without waiting for it to lead; tune changes the
// manager's options (leader election, say).
func startManager(t testing.TB, opts app.Options, tune func(*ctrl.Options)) *controller {
	t.Helper()
	return startManagerWithConfig(t, restConfig, opts, tune)
}

// startManagerWithConfig is startManager talking to the API server as cfg says.
func startManagerWithConfig(t testing.TB, cfg *rest.Config, opts app.Options, tune func(*ctrl.Options)) *controller {
	t.Helper()
	mgrOpts := ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		Logger:                 testr.NewWithInterface(t, testr.Options{Verbosity: 0}),
	}
	if _, benchmark := t.(*testing.B); benchmark {
		mgrOpts.Logger = logr.Discard() // keep benchmark output to the numbers
	}
	if tune != nil {
		tune(&mgrOpts)
	}
	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	if err != nil {
		t.Fatalf("creating manager: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	k, err := app.SetupWithManager(ctx, mgr, opts)
	if err != nil {
		cancel()
		t.Fatalf("SetupWithManager: %v", err)
	}
	c := &controller{khook: k, stop: cancel, done: make(chan error, 1), name: t.Name()}
	go func() { c.done <- mgr.Start(ctx) }()
	t.Cleanup(func() { c.Stop(t) })
	return c
}

// waitReady waits until the controller's event sources run (it leads).
func (c *controller) waitReady(t testing.TB) {
	t.Helper()
	select {
	case <-c.khook.Ready():
	case err := <-c.done:
		c.stopped = true
		t.Fatalf("manager stopped before khook was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("khook did not become ready")
	}
}

// Stop stops the manager and waits for it, in-flight agent calls and the final status write
// included.
func (c *controller) Stop(t testing.TB) {
	if c.stopped {
		return
	}
	c.stopped = true
	c.stop()
	select {
	case err := <-c.done:
		if err != nil {
			t.Errorf("manager stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("manager did not stop")
	}
}

// newNamespace creates a namespace for one test.
func newNamespace(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", nsCounter.Add(1), strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())))
	if len(name) > 50 {
		name = strings.TrimRight(name[:50], "-")
	}
	if err := k8s.Create(context.Background(), newNamespaceObject(name)); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	// envtest has no namespace controller, so nothing is deleted with the namespace: remove
	// the Hooks, or the next test's controller would load them and act on their recent Events.
	// (Registered first, this runs after the test's controllers have stopped.)
	t.Cleanup(func() {
		if err := k8s.DeleteAllOf(context.Background(), &v1alpha2.Hook{}, client.InNamespace(name)); err != nil {
			t.Errorf("deleting the hooks of %s: %v", name, err)
		}
	})
	return name
}

func newNamespaceObject(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func startAgent(t testing.TB, opts echoagent.Options) *echoagent.Server {
	t.Helper()
	s := echoagent.Start(opts)
	t.Cleanup(s.Close)
	return s
}

// noWait is a groupWait of zero: the agent is told as the firing is seen.
func noWait() *metav1.Duration { return &metav1.Duration{} }

// newHook builds a Hook calling agent kagent/<agent> for each event type with prompt.
func newHook(ns, name, agent, prompt string, types ...string) *v1alpha2.Hook {
	h := &v1alpha2.Hook{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	for _, typ := range types {
		h.Spec.EventConfigurations = append(h.Spec.EventConfigurations, v1alpha2.EventConfiguration{
			EventType: typ, AgentRef: &v1alpha2.AgentReference{Namespace: "kagent", Name: agent}, Prompt: prompt,
			GroupWait: noWait(), // tests of grouping set their own
		})
	}
	return h
}

func create(t testing.TB, obj client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// waitAccepted waits until the Hook's Accepted condition is set and returns it.
func waitAccepted(t testing.TB, ns, name string) metav1.Condition {
	t.Helper()
	var cond metav1.Condition
	eventually(t, 15*time.Second, func() error {
		var h v1alpha2.Hook
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &h); err != nil {
			return err
		}
		for _, c := range h.Status.Conditions {
			if c.Type == "Accepted" && c.ObservedGeneration == h.Generation {
				cond = c
				return nil
			}
		}
		return fmt.Errorf("no Accepted condition for generation %d yet: %+v", h.Generation, h.Status.Conditions)
	})
	return cond
}

// backOffEvent is the Event the kubelet sends when a container keeps crashing.
func backOffEvent(ns, pod string) *eventsv1.Event {
	return podEvent(ns, pod, "BackOff", "Back-off restarting failed container app in pod "+pod)
}

func podEvent(ns, pod, reason, note string) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Namespace: ns, GenerateName: pod + "-"},
		EventTime:           metav1.NewMicroTime(time.Now()),
		ReportingController: "kubelet",
		ReportingInstance:   "node-1",
		Action:              "Restarting",
		Reason:              reason,
		Note:                note,
		Type:                corev1.EventTypeWarning,
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod, APIVersion: "v1"},
	}
}

// eventually retries check until it passes or timeout runs out.
func eventually(t testing.TB, timeout time.Duration, check func() error) {
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
		time.Sleep(25 * time.Millisecond)
	}
}

// hookStatus reads a Hook's status.
func hookStatus(t testing.TB, ns, name string) v1alpha2.HookStatus {
	t.Helper()
	var h v1alpha2.Hook
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &h); err != nil {
		t.Fatalf("reading hook: %v", err)
	}
	return h.Status
}

// auditReasons lists the reasons of the Events recorded on Hook name.
func auditReasons(t testing.TB, ns, name string) []string {
	t.Helper()
	var out []string
	for _, e := range auditEvents(t, ns, name) {
		out = append(out, e.Reason)
	}
	return out
}

// auditEvents lists the Events recorded on Hook name.
func auditEvents(t testing.TB, ns, name string) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatalf("listing events: %v", err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == "Hook" && e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// delivery returns the ledger line of agent for the active event of pod on Hook name, or an
// error saying what is there instead.
func deliveryOf(t testing.TB, ns, name, pod, agent string) (v1alpha2.Investigation, v1alpha2.Delivery, error) {
	t.Helper()
	inv, err := investigationOf(t, ns, name, pod)
	if err != nil {
		return inv, v1alpha2.Delivery{}, err
	}
	for _, d := range inv.Status.Deliveries {
		if d.Agent == agent {
			return inv, d.Delivery, nil
		}
	}
	return inv, v1alpha2.Delivery{}, fmt.Errorf("%s has no delivery to %s: %+v", pod, agent, inv.Status.Deliveries)
}

// investigationOf returns the newest investigation of Hook name (as it is now: a Hook deleted
// and created again is another) about pod, read from the API server.
func investigationOf(t testing.TB, ns, name, pod string) (v1alpha2.Investigation, error) {
	t.Helper()
	var h v1alpha2.Hook
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &h); err != nil {
		return v1alpha2.Investigation{}, err
	}
	var list v1alpha2.InvestigationList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		return v1alpha2.Investigation{}, err
	}
	var newest *v1alpha2.Investigation
	for i := range list.Items {
		inv := &list.Items[i]
		if inv.Spec.Hook.UID != string(h.UID) || inv.Spec.Subject.Name != pod {
			continue
		}
		if newest == nil || inv.Spec.StartedAt.After(newest.Spec.StartedAt.Time) ||
			inv.Spec.StartedAt.Equal(&newest.Spec.StartedAt) && inv.CreationTimestamp.After(newest.CreationTimestamp.Time) {
			newest = inv
		}
	}
	if newest == nil {
		return v1alpha2.Investigation{}, fmt.Errorf("no investigation of %s about %s", name, pod)
	}
	return *newest, nil
}
