package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/app"
)

func main() {
	if err := run(ctrl.SetupSignalHandler(), os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "khook:", err)
		os.Exit(1)
	}
}

// run is khook from its command line to the end of ctx: flags → app → manager.Start.
func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	c, err := parseFlags(args, getenv, out)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&c.zap)))
	applyMemoryLimit(ctrl.Log, c.memory, os.ReadFile)

	cfg, err := c.restConfig()
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fmt.Errorf("building the scheme: %w", err)
	}
	if err := v1alpha2.AddToScheme(scheme); err != nil {
		return fmt.Errorf("building the scheme: %w", err)
	}
	metrics, err := app.MetricsServerOptions(c.metricsServing()) // checked by parseFlags
	if err != nil {
		return fmt.Errorf("--metrics-cert-dir: %w", err)
	}
	grace := c.opts.ShutdownTimeout + 15*time.Second
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metrics,
		HealthProbeBindAddress:        c.probeAddr,
		LeaderElection:                c.leaderElect,
		LeaderElectionID:              "khook.kagent.dev",
		LeaderElectionNamespace:       c.leaderElectNamespace,
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       &grace,
		// Pods and Events are cached cluster-wide: only what khook reads of them is kept, and
		// no object keeps its managed fields.
		Cache: app.CacheOptions(),
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	k, err := app.SetupWithManager(ctx, mgr, c.opts)
	if err != nil {
		return err
	}
	// /healthz: the leader's loop comes round. /readyz: this replica can do its part (the
	// leader serves, a standby stands by). /readyz/leader: this replica handles the events.
	// /readyz/sources: every enabled event source runs (a detail, not part of /readyz).
	for name, check := range map[string]healthz.Checker{"ping": healthz.Ping, "loop": k.HealthzCheck()} {
		if err := mgr.AddHealthzCheck(name, check); err != nil {
			return fmt.Errorf("adding health check %s: %w", name, err)
		}
	}
	for name, check := range map[string]healthz.Checker{"khook": k.ReadyzCheck(), "leader": k.LeaderReadyzCheck(), "sources": k.SourcesReadyzCheck()} {
		if err := mgr.AddReadyzCheck(name, check); err != nil {
			return fmt.Errorf("adding readiness check %s: %w", name, err)
		}
	}
	ctrl.Log.Info("starting khook", "kagentURL", c.opts.KagentURL, "userID", c.opts.UserID, "leaderElection", c.leaderElect, "apiServer", cfg.Host,
		"metricsSecure", c.metricsSecure)
	return mgr.Start(ctx)
}

// restConfig finds the cluster as kubectl would (--kubeconfig, $KUBECONFIG, in-cluster,
// ~/.kube/config) and applies the client-side rate limit.
func (c config) restConfig() (*rest.Config, error) {
	cfg, err := ctrlconfig.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("finding the cluster (--kubeconfig, $KUBECONFIG, in-cluster or ~/.kube/config): %w", err)
	}
	if c.kubeAPIQPS > 0 {
		cfg.QPS = float32(c.kubeAPIQPS)
		cfg.Burst = c.burst()
	}
	return cfg, nil
}
