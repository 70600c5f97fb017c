package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// AssetsEnv names the variable holding the directory hack/controlplane.sh prints.
const AssetsEnv = "KHOOK_CONTROLPLANE_ASSETS"

// KeepEnv, when set to anything, keeps the control plane's directory (its logs, certificates,
// kubeconfigs and etcd data) after it stops, and says where it is.
const KeepEnv = "KHOOK_CONTROLPLANE_KEEP"

// ErrNoAssets: AssetsEnv is not set.
var ErrNoAssets = errors.New(AssetsEnv + " is not set: run `make test`, which builds the control plane" +
	" (hack/controlplane.sh: kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kwok) and sets it")

// binaries lists what the assets directory must hold.
var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// stageCRDFile is kwok's Stage CRD, copied into the assets by hack/controlplane.sh.
const stageCRDFile = "kwok-stage-crd.yaml"

// Defaults of Options.
const (
	// DefaultNodeMonitorGracePeriod is shorter than Kubernetes' 50s so that tests see a stopped
	// node go Unknown quickly; it leaves kwok eight lease renewals (every 2.5s) to miss first.
	DefaultNodeMonitorGracePeriod = 20 * time.Second
	// DefaultNodeLeaseDuration is kwok's node lease; it renews at a quarter of it (the kubelet:
	// 40s, every 10s).
	DefaultNodeLeaseDuration = 10 * time.Second
	// DefaultPodEvictionTimeout is Kubernetes' own: the tolerations the DefaultTolerationSeconds
	// admission plugin gives every Pod for the not-ready and unreachable taints.
	DefaultPodEvictionTimeout = 300 * time.Second
	// DefaultUnschedulableRetry is Kubernetes' own.
	DefaultUnschedulableRetry = 5 * time.Minute
	// DefaultStartTimeout bounds each component's start (the machine may be busy).
	DefaultStartTimeout = 2 * time.Minute
)

// Options say how the control plane runs. The zero value is a working control plane.
type Options struct {
	// Assets is the directory with the binaries and kwok's Stage CRD; default $KHOOK_CONTROLPLANE_ASSETS.
	Assets string
	// CRDPaths are more CRDs to install (files or directories), khook's own for instance.
	CRDPaths []string
	// Scheme is the scheme of Client(); default client-go's. Add the types of CRDPaths to it.
	Scheme *runtime.Scheme
	// NodeMonitorGracePeriod: how long a Node may go without a heartbeat (its lease renewed by
	// kwok) before the node lifecycle controller marks it Unknown
	// (--node-monitor-grace-period). Default DefaultNodeMonitorGracePeriod.
	NodeMonitorGracePeriod time.Duration
	// NodeLeaseDuration is kwok's node lease duration; kwok renews it every quarter of it. It must
	// be shorter than NodeMonitorGracePeriod. Default DefaultNodeLeaseDuration.
	NodeLeaseDuration time.Duration
	// PodEvictionTimeout: Pods on a Node that is not ready or unreachable are evicted after this
	// (the API server's --default-not-ready-toleration-seconds and
	// --default-unreachable-toleration-seconds). Default DefaultPodEvictionTimeout, whole seconds.
	PodEvictionTimeout time.Duration
	// UnschedulableRetry: the scheduler tries a Pod it could not place again after this at the
	// latest, even when no change in the cluster could help it (its deprecated but still served
	// --pod-max-in-unschedulable-pods-duration). A failure that repeats is the Event's series.
	// Default DefaultUnschedulableRetry.
	UnschedulableRetry time.Duration
	// StartTimeout bounds each component's start. Default DefaultStartTimeout.
	StartTimeout time.Duration
	// Verbosity is the components' log level (klog's -v). Default 2.
	Verbosity int
}

func (o Options) withDefaults() (Options, error) {
	if o.Assets == "" {
		o.Assets = os.Getenv(AssetsEnv)
		if o.Assets == "" {
			return o, ErrNoAssets
		}
	}
	for _, name := range append(binaries, stageCRDFile) {
		if _, err := os.Stat(filepath.Join(o.Assets, name)); err != nil {
			return o, fmt.Errorf("the control plane's assets in %s lack %s (run hack/controlplane.sh): %w", o.Assets, name, err)
		}
	}
	if o.Scheme == nil {
		o.Scheme = clientgoscheme.Scheme
	}
	if o.NodeMonitorGracePeriod == 0 {
		o.NodeMonitorGracePeriod = DefaultNodeMonitorGracePeriod
	}
	if o.NodeLeaseDuration == 0 {
		o.NodeLeaseDuration = DefaultNodeLeaseDuration
	}
	if o.NodeLeaseDuration < time.Second || o.NodeLeaseDuration >= o.NodeMonitorGracePeriod {
		return o, fmt.Errorf("the node lease duration (%s) must be at least 1s and shorter than the node monitor grace period (%s),"+
			" or healthy nodes go Unknown", o.NodeLeaseDuration, o.NodeMonitorGracePeriod)
	}
	if o.PodEvictionTimeout == 0 {
		o.PodEvictionTimeout = DefaultPodEvictionTimeout
	}
	if o.UnschedulableRetry == 0 {
		o.UnschedulableRetry = DefaultUnschedulableRetry
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.Verbosity == 0 {
		o.Verbosity = 2
	}
	return o, nil
}

// ControlPlane is a running control plane. Its methods are safe for concurrent use, but
// StopKwok affects every Node and the Pods on them: a test that stops kwok should not run in
// parallel with others on the same control plane.
type ControlPlane struct {
	opts   Options
	dir    string
	env    *envtest.Environment
	admin  *rest.Config
	client client.Client

	kubeControllerManager *process
	kubeScheduler         *process

	logs []*os.File // etcd's and kube-apiserver's, closed once they stopped

	kwokMu         sync.Mutex
	kwok           *process
	kwokKubeconfig string

	stopOnce sync.Once
	stopErr  error
}

// Log files of the components, in the control plane's directory.
const (
	etcdLog                  = "etcd.log"
	kubeAPIServerLog         = "kube-apiserver.log"
	kubeControllerManagerLog = "kube-controller-manager.log"
	kubeSchedulerLog         = "kube-scheduler.log"
	kwokLog                  = "kwok.log"
)

var logFiles = []string{etcdLog, kubeAPIServerLog, kubeControllerManagerLog, kubeSchedulerLog, kwokLog}

// Start starts a control plane for one test (or benchmark) and stops it when the test ends,
// printing the end of every component's log if the test failed.
func Start(t testing.TB, opts Options) *ControlPlane {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the control plane's logs (%s):\n%s", c.dir, c.LogTails(40))
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	return c
}

// New starts a control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
// kwok, with kwok's Stages (DefaultStages) applied. It returns once every component is healthy
// and the controller-manager's controllers run. Stop stops it; TestMain calls New and Stop to
// share one control plane among a package's tests.
func New(opts Options) (c *ControlPlane, err error) {
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "khook-controlplane-")
	if err != nil {
		return nil, fmt.Errorf("making the control plane's directory: %w", err)
	}
	c = &ControlPlane{opts: opts, dir: dir}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\nthe control plane's logs (%s; set %s to keep them):\n%s", err, dir, KeepEnv, c.LogTails(40))
			_ = c.Stop()
			c = nil
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*opts.StartTimeout)
	defer cancel()
	if err := c.startAPIServer(); err != nil {
		return c, err
	}
	if err := c.startKubeControllerManager(ctx); err != nil {
		return c, err
	}
	if err := c.startKubeScheduler(ctx); err != nil {
		return c, err
	}
	if err := c.writeKubeconfig("kwok", []string{"system:masters"}, &c.kwokKubeconfig); err != nil {
		return c, err
	}
	if err := c.ApplyStages(ctx, DefaultStages()...); err != nil {
		return c, err
	}
	if err := c.StartKwok(); err != nil {
		return c, err
	}
	// The controller-manager's service-account controller makes every namespace's default
	// ServiceAccount, with the credentials it asked the API server for: when it is there, the
	// controllers run.
	if err := c.waitFor(ctx, "the controller-manager to make the default ServiceAccount", func(ctx context.Context) error {
		return c.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "default"}, &corev1.ServiceAccount{})
	}); err != nil {
		return c, err
	}
	return c, nil
}

// startAPIServer starts etcd and kube-apiserver through envtest: secure serving with its own CA,
// client certificates, and a service-account signing key; admission as in a cluster
// (envtest turns the ServiceAccount plugin off; here the controller-manager makes the
// ServiceAccounts it needs).
func (c *ControlPlane) startAPIServer() error {
	etcdOut, err := os.Create(filepath.Join(c.dir, etcdLog))
	if err != nil {
		return fmt.Errorf("creating etcd's log: %w", err)
	}
	c.logs = append(c.logs, etcdOut) // closed by Stop
	apiOut, err := os.Create(filepath.Join(c.dir, kubeAPIServerLog))
	if err != nil {
		return fmt.Errorf("creating kube-apiserver's log: %w", err)
	}
	c.logs = append(c.logs, apiOut)
	toleration := strconv.Itoa(int(c.opts.PodEvictionTimeout / time.Second))
	c.env = &envtest.Environment{
		UseExistingCluster:       new(false),
		CRDDirectoryPaths:        append([]string{filepath.Join(c.opts.Assets, stageCRDFile)}, c.opts.CRDPaths...),
		ErrorIfCRDPathMissing:    true,
		Scheme:                   c.opts.Scheme,
		ControlPlaneStartTimeout: c.opts.StartTimeout,
		ControlPlaneStopTimeout:  time.Minute,
		ControlPlane: envtest.ControlPlane{
			Etcd: &envtest.Etcd{Path: filepath.Join(c.opts.Assets, "etcd"), Out: etcdOut, Err: etcdOut},
			APIServer: &envtest.APIServer{
				Path: filepath.Join(c.opts.Assets, "kube-apiserver"),
				Out:  apiOut, Err: apiOut,
			},
		},
	}
	c.env.ControlPlane.APIServer.Configure().
		Disable("disable-admission-plugins").
		Set("default-not-ready-toleration-seconds", toleration).
		Set("default-unreachable-toleration-seconds", toleration).
		Set("v", strconv.Itoa(min(c.opts.Verbosity, 1))) // its level 2 logs every request
	cfg, err := c.env.Start()
	if err != nil {
		c.env = nil // nothing to stop: envtest stopped what it started
		return fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	c.admin = cfg
	c.client, err = client.New(cfg, client.Options{Scheme: c.opts.Scheme})
	if err != nil {
		return fmt.Errorf("making the test client: %w", err)
	}
	return nil
}

// writeKubeconfig provisions a client certificate for user (in groups) and writes its
// kubeconfig into the control plane's directory, setting *path.
func (c *ControlPlane) writeKubeconfig(user string, groups []string, path *string) error {
	u, err := c.env.AddUser(envtest.User{Name: user, Groups: groups}, nil)
	if err != nil {
		return fmt.Errorf("provisioning the credentials of %s: %w", user, err)
	}
	data, err := u.KubeConfig()
	if err != nil {
		return fmt.Errorf("writing the kubeconfig of %s: %w", user, err)
	}
	p := filepath.Join(c.dir, filepath.Base(user)+".kubeconfig")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		return fmt.Errorf("writing the kubeconfig of %s: %w", user, err)
	}
	*path = p
	return nil
}

// startKubeControllerManager starts kube-controller-manager as system:kube-controller-manager:
// every controller on by default (the node lifecycle controller with the configured grace), each
// with its own service-account credentials, signed with the API server's service-account key.
func (c *ControlPlane) startKubeControllerManager(ctx context.Context) error {
	var kubeconfig string
	if err := c.writeKubeconfig("system:kube-controller-manager", nil, &kubeconfig); err != nil {
		return err
	}
	rootCA := filepath.Join(c.dir, "root-ca.crt")
	if err := os.WriteFile(rootCA, c.env.ControlPlane.APIServer.SecureServing.CA, 0o600); err != nil {
		return fmt.Errorf("writing the root CA: %w", err)
	}
	saKey := filepath.Join(c.env.ControlPlane.APIServer.CertDir, "sa-signer.key")
	certDir := filepath.Join(c.dir, "kube-controller-manager")
	p, err := launch(ctx, 1, func(ports []int) (*process, error) {
		return startProcess("kube-controller-manager", filepath.Join(c.opts.Assets, "kube-controller-manager"), []string{
			"--kubeconfig=" + kubeconfig,
			"--authentication-kubeconfig=" + kubeconfig,
			"--authorization-kubeconfig=" + kubeconfig,
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(ports[0]),
			"--cert-dir=" + certDir,
			"--leader-elect=false",
			"--service-account-private-key-file=" + saKey,
			"--root-ca-file=" + rootCA,
			"--use-service-account-credentials=true",
			"--node-monitor-grace-period=" + c.opts.NodeMonitorGracePeriod.String(),
			"--node-monitor-period=1s",
			"--v=" + strconv.Itoa(c.opts.Verbosity),
		}, nil, filepath.Join(c.dir, kubeControllerManagerLog))
	}, c.healthz)
	if err != nil {
		return fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	c.kubeControllerManager = p
	return nil
}

// startKubeScheduler starts kube-scheduler as system:kube-scheduler, with its default profile.
func (c *ControlPlane) startKubeScheduler(ctx context.Context) error {
	var kubeconfig string
	if err := c.writeKubeconfig("system:kube-scheduler", nil, &kubeconfig); err != nil {
		return err
	}
	certDir := filepath.Join(c.dir, "kube-scheduler")
	p, err := launch(ctx, 1, func(ports []int) (*process, error) {
		return startProcess("kube-scheduler", filepath.Join(c.opts.Assets, "kube-scheduler"), []string{
			"--kubeconfig=" + kubeconfig,
			"--authentication-kubeconfig=" + kubeconfig,
			"--authorization-kubeconfig=" + kubeconfig,
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(ports[0]),
			"--cert-dir=" + certDir,
			"--leader-elect=false",
			"--pod-max-in-unschedulable-pods-duration=" + c.opts.UnschedulableRetry.String(),
			"--v=" + strconv.Itoa(c.opts.Verbosity),
		}, nil, filepath.Join(c.dir, kubeSchedulerLog))
	}, c.healthz)
	if err != nil {
		return fmt.Errorf("starting kube-scheduler: %w", err)
	}
	c.kubeScheduler = p
	return nil
}

// healthz waits for a component serving HTTPS on ports[0].
func (c *ControlPlane) healthz(ctx context.Context, p *process, ports []int) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	return waitHealthy(ctx, p, fmt.Sprintf("https://127.0.0.1:%d/healthz", ports[0]))
}

// Stop stops kwok, the scheduler, the controller-manager, the API server and etcd, in that
// order, and waits for each; it removes the control plane's directory unless KeepEnv is set.
// Stopping twice is harmless.
func (c *ControlPlane) Stop() error {
	c.stopOnce.Do(func() {
		var errs []error
		if err := c.StopKwok(); err != nil {
			errs = append(errs, err)
		}
		for _, p := range []*process{c.kubeScheduler, c.kubeControllerManager} {
			if p != nil {
				if err := p.stop(30 * time.Second); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if c.env != nil {
			if err := c.env.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stopping kube-apiserver and etcd: %w", err))
			}
		}
		for _, f := range c.logs {
			_ = f.Close()
		}
		if os.Getenv(KeepEnv) != "" {
			fmt.Fprintf(os.Stderr, "controlplane: kept %s (%s is set)\n", c.dir, KeepEnv)
		} else if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", c.dir, err))
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// RESTConfig is a configuration for the API server as an administrator (system:masters).
func (c *ControlPlane) RESTConfig() *rest.Config { return rest.CopyConfig(c.admin) }

// Client is a client of the API server as an administrator, with Options.Scheme.
func (c *ControlPlane) Client() client.Client { return c.client }

// Dir is the control plane's directory: logs, kubeconfigs, certificates.
func (c *ControlPlane) Dir() string { return c.dir }

// LogTails returns the last lines of every component's log, each under a heading.
func (c *ControlPlane) LogTails(lines int) string {
	var out []byte
	for _, name := range logFiles {
		p := filepath.Join(c.dir, name)
		out = fmt.Appendf(out, "---- the last %d lines of %s ----\n%s\n", lines, p, tailFile(p, lines))
	}
	return string(out)
}

// ReportOnFailure prints the end of every component's log when t fails: for tests that share a
// control plane started in TestMain.
func (c *ControlPlane) ReportOnFailure(t testing.TB) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the control plane's logs (%s):\n%s", c.dir, c.LogTails(40))
		}
	})
}

// WriteLogTails writes LogTails(lines) to w: for TestMain, when the package failed.
func (c *ControlPlane) WriteLogTails(w io.Writer, lines int) {
	_, _ = io.WriteString(w, c.LogTails(lines))
}

// waitFor polls check until it passes, ctx ends or StartTimeout runs out.
func (c *ControlPlane) waitFor(ctx context.Context, what string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	if err := poll(ctx, check); err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}

// poll runs check every 250ms until it returns nil or ctx ends, and then returns check's last
// error (not the context's, when the deadline cut a check short and an earlier one said more).
func poll(ctx context.Context, check func(context.Context) error) error {
	var last error
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(250 * time.Millisecond):
		}
	}
}
