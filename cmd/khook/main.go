package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/khook-dev/khook/adapters/sources"
	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/app"
)

// config is what the command line says.
type config struct {
	opts                 app.Options
	metricsAddr          string
	probeAddr            string
	leaderElect          bool
	leaderElectNamespace string
	logLevel             string
}

// parseFlags reads args; the original khook's environment variables (KAGENT_API_URL,
// KAGENT_USER_ID, KAGENT_API_TIMEOUT) give the defaults, and flags win.
func parseFlags(args []string, getenv func(string) string) (config, error) {
	var c config
	fs := flag.NewFlagSet("khook", flag.ContinueOnError)
	defaults := app.DefaultOptions()
	timeoutDefault := defaults.CallTimeout
	if v := getenv("KAGENT_API_TIMEOUT"); v != "" {
		d, err := parseTimeout(v)
		if err != nil {
			return c, fmt.Errorf("KAGENT_API_TIMEOUT: %w", err)
		}
		timeoutDefault = d
	}
	kagentURL := getenv("KAGENT_API_URL")
	if kagentURL == "" {
		kagentURL = "http://kagent-controller.kagent:8083"
	}
	userID := getenv("KAGENT_USER_ID")
	if userID == "" {
		userID = defaults.UserID
	}
	var clusterNS, watcherConfig string
	fs.StringVar(&c.opts.KagentURL, "kagent-url", kagentURL, "Kagent base URL (env KAGENT_API_URL)")
	fs.StringVar(&c.opts.UserID, "user-id", userID, "user sent to Kagent as X-User-Id (env KAGENT_USER_ID)")
	fs.DurationVar(&c.opts.CallTimeout, "call-timeout", timeoutDefault, "timeout of one agent call attempt (env KAGENT_API_TIMEOUT)")
	fs.DurationVar(&c.opts.DedupWindow, "dedup-window", defaults.DedupWindow, "an event not seen again for this long is resolved")
	fs.IntVar(&c.opts.MaxConcurrentCalls, "max-concurrent-calls", defaults.MaxConcurrentCalls, "agent calls under way at once")
	fs.DurationVar(&c.opts.ShutdownTimeout, "shutdown-timeout", defaults.ShutdownTimeout, "how long agent calls under way may finish at shutdown")
	fs.DurationVar(&c.opts.StatusFlushInterval, "status-flush-interval", defaults.StatusFlushInterval, "longest wait before a status change is written")
	fs.DurationVar(&c.opts.CleanupInterval, "cleanup-interval", defaults.CleanupInterval, "how often quiet events are resolved")
	fs.StringVar(&clusterNS, "cluster-event-namespaces", getenv("POD_NAMESPACE"), "comma-separated namespaces whose Hooks receive events without a namespace")
	fs.StringVar(&c.metricsAddr, "metrics-bind-address", ":8080", "metrics address (0 disables)")
	fs.StringVar(&c.probeAddr, "health-probe-bind-address", ":8081", "health probe address (0 disables)")
	fs.BoolVar(&c.leaderElect, "leader-elect", true, "run only on the elected leader replica")
	fs.StringVar(&c.leaderElectNamespace, "leader-election-namespace", getenv("POD_NAMESPACE"), "namespace of the leader election lease")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info or error")
	fs.StringVar(&watcherConfig, "event-watcher-config", "", "event sources configuration (event-watcher-config.yaml; docs/sources.md); without it the Kubernetes source runs alone")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	for _, ns := range strings.Split(clusterNS, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			c.opts.ClusterEventNamespaces = append(c.opts.ClusterEventNamespaces, ns)
		}
	}
	if watcherConfig != "" {
		// ${VAR}s in sources' settings come from the environment; unset or empty ones are refused.
		cfg, err := sources.LoadConfig(watcherConfig, func(k string) (string, bool) { v := getenv(k); return v, v != "" })
		if err != nil {
			return c, fmt.Errorf("-event-watcher-config: %w", err)
		}
		c.opts.EventSources = cfg
	}
	if _, err := zapcore.ParseLevel(c.logLevel); err != nil {
		return c, fmt.Errorf("-log-level: %w", err)
	}
	return c, c.opts.Validate()
}

// parseTimeout reads a Go duration ("90s") or, as the original khook did, whole seconds ("90").
func parseTimeout(v string) (time.Duration, error) {
	if secs, err := strconv.Atoi(v); err == nil {
		return time.Duration(secs) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is neither seconds nor a duration", v)
	}
	return d, nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "khook:", err)
		os.Exit(1)
	}
}

func run() error {
	c, err := parseFlags(os.Args[1:], os.Getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	level, _ := zapcore.ParseLevel(c.logLevel)
	ctrl.SetLogger(zap.New(zap.Level(level)))

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha2.AddToScheme(scheme); err != nil {
		return err
	}
	grace := c.opts.ShutdownTimeout + 15*time.Second
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: c.metricsAddr},
		HealthProbeBindAddress:        c.probeAddr,
		LeaderElection:                c.leaderElect,
		LeaderElectionID:              "khook.kagent.dev",
		LeaderElectionNamespace:       c.leaderElectNamespace,
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       &grace,
		// Pods and Events are cached cluster-wide; their managed fields are never read.
		Cache: cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()
	if _, err := app.SetupWithManager(ctx, mgr, c.opts); err != nil {
		return err
	}
	ctrl.Log.Info("starting khook", "kagentURL", c.opts.KagentURL, "userID", c.opts.UserID, "leaderElection", c.leaderElect)
	return mgr.Start(ctx)
}
