package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/khook-dev/khook/adapters/sources"
	"github.com/khook-dev/khook/app"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/hook"
)

// defaultKagentURL is where Kagent's controller listens when it is installed in namespace kagent.
const defaultKagentURL = "http://kagent-controller.kagent:8083"

// inClusterNamespaceFile exists in a Pod; out of the cluster, leader election needs a namespace.
var inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// config is what the command line says.
type config struct {
	opts app.Options

	kubeconfig   string
	kubeAPIQPS   float64
	kubeAPIBurst int

	metricsAddr          string
	metricsSecure        bool
	metricsCertDir       string
	probeAddr            string
	leaderElect          bool
	leaderElectNamespace string

	zap zap.Options

	memory memoryConfig

	inhibit bool // --inhibit-pod-trouble-on-node-failure; opts.Inhibition.Disabled is its negation
}

// newFlagSet defines every flag of khook on a new flag set that parses into c. The original
// khook's environment variables (KAGENT_API_URL, KAGENT_USER_ID, KAGENT_API_TIMEOUT) and
// POD_NAMESPACE give defaults; flags win.
//
// Adding a flag is one line here, one row in docs/configuration.md and, when the chart should
// set it, one value in charts/khook (TestTheConfigurationReferenceCoversEveryFlag says which
// is missing). Use the typed helpers below: a bad value is then a parse error naming the flag.
func newFlagSet(c *config, getenv func(string) string) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet("khook", flag.ContinueOnError)
	d := app.DefaultOptions()
	var errs []error

	// Kagent, with the original khook's environment variables as defaults.
	c.opts.KagentURL = defaultKagentURL
	for _, env := range []string{"KAGENT_API_URL", "KAGENT_API_BASE_URL"} { // the second is the original's legacy name
		if v := getenv(env); v != "" {
			if err := (*absoluteURL)(&c.opts.KagentURL).Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
			break
		}
	}
	c.opts.UserID = d.UserID
	if v := getenv("KAGENT_USER_ID"); v != "" {
		c.opts.UserID = v
	}
	c.opts.RequestTimeout = d.RequestTimeout
	if v := getenv("KAGENT_API_TIMEOUT"); v != "" {
		if err := (*secondsOrDuration)(&c.opts.RequestTimeout).Set(v); err != nil {
			errs = append(errs, fmt.Errorf("KAGENT_API_TIMEOUT: %w", err))
		}
	}
	fs.Var((*absoluteURL)(&c.opts.KagentURL), "kagent-url", "Kagent base `URL`; agents are at <url>/api/a2a/<namespace>/<name>/ (env KAGENT_API_URL)")
	fs.Var((*nonEmpty)(&c.opts.UserID), "user-id", "`user` sent to Kagent as X-User-Id (env KAGENT_USER_ID)")
	fs.Var((*secondsOrDuration)(&c.opts.RequestTimeout), "request-timeout", "timeout of one request to Kagent, a send or a task poll (never an investigation): a `duration`, or whole seconds (env KAGENT_API_TIMEOUT)")
	fs.Var((*secondsOrDuration)(&c.opts.RequestTimeout), "call-timeout", "deprecated alias of --request-timeout (a `duration`)")
	fs.StringVar(&c.opts.KagentSecurity.CAFile, "kagent-ca-file", "", "PEM bundle (a `file`) of the authorities Kagent's TLS certificate is checked against, besides the system's")
	fs.StringVar(&c.opts.KagentSecurity.TokenFile, "kagent-token-file", "", "`file` holding a bearer token for Kagent, read again when it changes (e.g. a projected service-account token)")
	fs.Var((*headers)(&c.opts.KagentSecurity.Headers), "kagent-header", "extra header for every Kagent request, as `Name=value` (repeatable)")

	// Delivery: how agents are told, and how their investigations are followed.
	c.opts.Delivery.Guarantee = d.Delivery.Guarantee
	fs.Var((*guarantee)(&c.opts.Delivery.Guarantee), "delivery-guarantee", "what a crash between a send and its status write does: at-least-once (sent again, same message id) or at-most-once (never sent again); a `guarantee`")
	countVar(fs, &c.opts.Delivery.MaxSendsPerAgent, "max-sends-per-agent", d.Delivery.MaxSendsPerAgent, "`number` of sends under way to one agent at once")
	countVar(fs, &c.opts.Delivery.MaxInvestigationsPerAgent, "max-investigations-per-agent", d.Delivery.MaxInvestigationsPerAgent, "`number` of investigations in progress per agent; more firings wait in its queue")
	durationVar(fs, &c.opts.Delivery.InvestigationTimeout, "investigation-timeout", d.Delivery.InvestigationTimeout, "a task not ended this long (a `duration`) after the agent accepted it is recorded as timed out")
	durationVar(fs, &c.opts.Delivery.RetryInitial, "retry-initial", d.Delivery.RetryInitial, "wait (a `duration`) after a failed delivery; it doubles with each failure")
	durationVar(fs, &c.opts.Delivery.RetryMax, "retry-max", d.Delivery.RetryMax, "longest wait (a `duration`) between two attempts of a delivery")
	countVar(fs, &c.opts.Delivery.MaxAttempts, "max-attempts", d.Delivery.MaxAttempts, "`number` of attempts before a delivery is given up (until the Hook or the agent changes)")
	nonNegativeIntVar(fs, &c.opts.Delivery.RetryFailedInvestigations, "retry-failed-investigations", 0, "`number` of times an agent whose task failed, was rejected or was lost is asked again (each a new LLM run); 0 records the outcome and asks no more")

	// Investigations: how many may be open or waiting, and what is kept of finished ones.
	countVar(fs, &c.opts.Investigations.MaxOpenPerHook, "max-open-investigations-per-hook", d.Investigations.MaxOpenPerHook, "`number` of unfinished investigations per Hook; past it new incidents are recorded as suppressed (backlog), not queued")
	countVar(fs, &c.opts.Investigations.MaxWaitingPerAgent, "max-waiting-per-agent", d.Investigations.MaxWaitingPerAgent, "`number` of deliveries waiting for one agent; past it new incidents are recorded as suppressed (backlog), not queued")
	durationVar(fs, &c.opts.Investigations.Retention, "investigation-retention", d.Investigations.Retention, "how long (a `duration`) a finished Investigation is kept")
	countVar(fs, &c.opts.Investigations.Kept, "investigations-kept-per-hook", d.Investigations.Kept, "`number` of finished Investigations kept per Hook, the newest")
	countVar(fs, &c.opts.Investigations.SuppressedPerMinute, "suppressed-investigations-per-minute", d.Investigations.SuppressedPerMinute, "`number` of suppressed Investigations written per Hook a minute; beyond it they are only counted")

	// Volume: every agent's budget (Hooks set their own in spec.limits).
	nonNegativeIntVar(fs, &c.opts.Volume.MaxInvestigationsPerAgentPerHour, "max-investigations-per-agent-per-hour", 0, "every agent's budget: at most this `number` of investigations an hour each (a token bucket); past it incidents are recorded as suppressed (rate-limited); 0 sets none")

	// Incidents.
	fs.BoolVar(&c.inhibit, "inhibit-pod-trouble-on-node-failure", true, "record the trouble of Pods on a Node that is not ready, or was within 5m, as inhibited: it starts no investigation (the Node's does); false investigates it")

	// Event sources beyond Kubernetes: the event-watcher configuration (docs/sources.md). ${VAR}s
	// in sources' settings come from the environment; unset or empty ones are refused.
	fs.Func("event-watcher-config", "event sources `file` (event-watcher-config.yaml, see docs/sources.md); without it the Kubernetes source runs alone", func(path string) error {
		cfg, err := sources.LoadConfig(path, func(k string) (string, bool) { v := getenv(k); return v, v != "" })
		if err != nil {
			return err
		}
		c.opts.EventSources = cfg
		return nil
	})

	// The pipeline.
	durationVar(fs, &c.opts.DedupWindow, "dedup-window", d.DedupWindow, "an event not seen again for this `duration` is resolved")
	durationVar(fs, &c.opts.ShutdownTimeout, "shutdown-timeout", d.ShutdownTimeout, "how long (a `duration`) sends under way may finish at shutdown")
	durationVar(fs, &c.opts.StatusFlushInterval, "status-flush-interval", d.StatusFlushInterval, "how often (a `duration`) events merely seen again are written; state changes are written within a second")
	durationVar(fs, &c.opts.CleanupInterval, "cleanup-interval", d.CleanupInterval, "how often (a `duration`) quiet events are resolved")
	c.opts.ClusterEventNamespaces = splitList(getenv("POD_NAMESPACE"))
	fs.Var((*list)(&c.opts.ClusterEventNamespaces), "cluster-event-namespaces", "comma-separated `namespaces` whose Hooks receive events without a namespace (default $POD_NAMESPACE)")

	// Which agents Hooks may call (docs/reliability.md#multi-tenancy-and-security).
	fs.Var((*agentNamespaces)(&c.opts.AllowedAgentNamespaces), "allowed-agent-namespaces", "comma-separated `namespaces` whose agents Hooks may call; @self is the Hook's own, * any (default: any). A Namespace's annotation kagent.dev/allowed-agent-namespaces narrows it for its Hooks")

	// The Kubernetes API client.
	ctrlconfig.RegisterFlags(fs) // --kubeconfig, read by ctrlconfig.GetConfig
	nonNegativeFloatVar(fs, &c.kubeAPIQPS, "kube-api-qps", 0, "`queries` per second to the Kubernetes API; 0 leaves client-side limiting off (API Priority and Fairness applies)")
	nonNegativeIntVar(fs, &c.kubeAPIBurst, "kube-api-burst", 0, "`requests` allowed in a burst above --kube-api-qps; 0 means twice the QPS")

	// The manager.
	c.metricsAddr, c.probeAddr = ":8080", ":8081"
	fs.Var((*bindAddress)(&c.metricsAddr), "metrics-bind-address", "`address` (host:port, host optional) of the /metrics endpoint; 0 disables it")
	fs.BoolVar(&c.metricsSecure, "metrics-secure", true, "serve /metrics over HTTPS, only to a bearer token the API server authenticates and authorises to get /metrics (TokenReview, SubjectAccessReview); false serves plain HTTP to anyone")
	fs.StringVar(&c.metricsCertDir, "metrics-cert-dir", "", "`directory` holding tls.crt and tls.key for /metrics over HTTPS, read again when they change; without it a self-signed certificate is made at start")
	countVar(fs, &c.opts.MetricsMaxAgents, "metrics-max-agents", d.MetricsMaxAgents, "`number` of agents with metrics series of their own; the others count under agent=\"other\", and an agent's series go when no Hook names it")
	fs.Var((*bindAddress)(&c.probeAddr), "health-probe-bind-address", "`address` (host:port, host optional) of /healthz, /readyz and /readyz/leader; 0 disables them")
	fs.BoolVar(&c.leaderElect, "leader-elect", true, "run only on the replica elected leader; the others stand by")
	if v := getenv("POD_NAMESPACE"); v != "" {
		if err := (*namespace)(&c.leaderElectNamespace).Set(v); err != nil {
			errs = append(errs, fmt.Errorf("POD_NAMESPACE: %w", err))
		}
	}
	fs.Var((*namespace)(&c.leaderElectNamespace), "leader-election-namespace", "`namespace` of the leader election Lease (default $POD_NAMESPACE, or the Pod's namespace in the cluster)")

	// The Go runtime's memory limit, from the container's (memlimit.go).
	if err := c.memory.register(fs, getenv); err != nil {
		errs = append(errs, err)
	}

	// Logging: controller-runtime's zap flags, and the original -log-level as an alias.
	c.zap.BindFlags(fs)
	fs.Func("log-level", "deprecated alias of --zap-log-level (a `level`)", func(v string) error { return fs.Set("zap-log-level", v) })

	return fs, errors.Join(errs...)
}

// parseFlags reads args into a config and checks what no single flag can. For -help it
// writes the usage to out and returns flag.ErrHelp.
func parseFlags(args []string, getenv func(string) string, out io.Writer) (config, error) {
	var c config
	fs, err := newFlagSet(&c, getenv)
	if err != nil {
		return c, err
	}
	fs.SetOutput(io.Discard) // errors are returned, not printed with the whole usage
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(fs, out)
		}
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q: khook takes only flags (see -help)", fs.Arg(0))
	}
	c.kubeconfig = fs.Lookup(ctrlconfig.KubeconfigFlagName).Value.String()
	c.opts.Inhibition.Disabled = !c.inhibit
	return c, c.validate()
}

// validate checks what depends on several flags, or on the machine.
func (c config) validate() error {
	var errs []error
	if c.kubeconfig != "" {
		if _, err := os.Stat(c.kubeconfig); err != nil {
			errs = append(errs, fmt.Errorf("--kubeconfig: %w", err))
		}
	}
	if c.metricsAddr != disabled && c.metricsAddr == c.probeAddr && !strings.HasSuffix(c.metricsAddr, ":0") {
		errs = append(errs, fmt.Errorf("--metrics-bind-address and --health-probe-bind-address are both %s; give them different ports", c.metricsAddr))
	}
	if _, err := app.MetricsServerOptions(c.metricsServing()); err != nil {
		errs = append(errs, fmt.Errorf("--metrics-cert-dir: %w", err))
	}
	if c.kubeAPIBurst > 0 && c.kubeAPIQPS == 0 {
		errs = append(errs, errors.New("--kube-api-burst has no effect without --kube-api-qps"))
	}
	if c.leaderElect && c.leaderElectNamespace == "" {
		if _, err := os.Stat(inClusterNamespaceFile); err != nil {
			errs = append(errs, errors.New("--leader-elect needs --leader-election-namespace (or POD_NAMESPACE) outside the cluster; or run one replica with --leader-elect=false"))
		}
	}
	if err := c.opts.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// metricsServing is how the manager serves /metrics.
func (c config) metricsServing() app.MetricsServing {
	return app.MetricsServing{BindAddress: c.metricsAddr, Secure: c.metricsSecure, CertDir: c.metricsCertDir}
}

// burst is the client's burst: as given, or twice the QPS.
func (c config) burst() int {
	if c.kubeAPIBurst > 0 {
		return c.kubeAPIBurst
	}
	return int(math.Ceil(2 * c.kubeAPIQPS))
}

func printUsage(fs *flag.FlagSet, out io.Writer) {
	fmt.Fprint(out, `Usage: khook [flags]

khook watches the cluster for trouble, matches it against Hook resources and hands each new
firing to a Kagent agent. Flags may be written -flag or --flag; docs/configuration.md explains
each one and the Helm value that sets it.

`)
	fs.SetOutput(out)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// Flag values that refuse what khook cannot use, so the parse error names the flag.

func durationVar(fs *flag.FlagSet, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	fs.Var((*positiveDuration)(p), name, usage)
}

func countVar(fs *flag.FlagSet, p *int, name string, def int, usage string) {
	*p = def
	fs.Var((*positiveInt)(p), name, usage)
}

func nonNegativeFloatVar(fs *flag.FlagSet, p *float64, name string, def float64, usage string) {
	*p = def
	fs.Var((*nonNegativeFloat)(p), name, usage)
}

func nonNegativeIntVar(fs *flag.FlagSet, p *int, name string, def int, usage string) {
	*p = def
	fs.Var((*nonNegativeInt)(p), name, usage)
}

type positiveDuration time.Duration

func (d *positiveDuration) String() string { return time.Duration(*d).String() }
func (d *positiveDuration) Set(v string) error {
	parsed, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("not a duration such as 30s, 5m or 1h")
	}
	if parsed <= 0 {
		return errors.New("must be greater than zero")
	}
	*d = positiveDuration(parsed)
	return nil
}

// secondsOrDuration is a positive Go duration ("90s") or, as the original khook's
// KAGENT_API_TIMEOUT was, whole seconds ("90").
type secondsOrDuration time.Duration

func (d *secondsOrDuration) String() string { return time.Duration(*d).String() }
func (d *secondsOrDuration) Set(v string) error {
	parsed, err := time.ParseDuration(v)
	if secs, errSecs := strconv.Atoi(v); errSecs == nil {
		parsed, err = time.Duration(secs)*time.Second, nil
	}
	if err != nil {
		return fmt.Errorf("%q is neither whole seconds nor a duration such as 90s", v)
	}
	if parsed <= 0 {
		return errors.New("must be greater than zero")
	}
	*d = secondsOrDuration(parsed)
	return nil
}

type positiveInt int

func (n *positiveInt) String() string { return strconv.Itoa(int(*n)) }
func (n *positiveInt) Set(v string) error {
	parsed, err := strconv.Atoi(v)
	if err != nil {
		return errors.New("not a whole number")
	}
	if parsed < 1 {
		return errors.New("must be at least 1")
	}
	*n = positiveInt(parsed)
	return nil
}

type nonNegativeInt int

func (n *nonNegativeInt) String() string { return strconv.Itoa(int(*n)) }
func (n *nonNegativeInt) Set(v string) error {
	parsed, err := strconv.Atoi(v)
	if err != nil {
		return errors.New("not a whole number")
	}
	if parsed < 0 {
		return errors.New("must not be negative")
	}
	*n = nonNegativeInt(parsed)
	return nil
}

type nonNegativeFloat float64

func (f *nonNegativeFloat) String() string { return strconv.FormatFloat(float64(*f), 'g', -1, 64) }
func (f *nonNegativeFloat) Set(v string) error {
	parsed, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(parsed) || math.IsInf(parsed, 0) {
		return errors.New("not a number")
	}
	if parsed < 0 {
		return errors.New("must not be negative")
	}
	*f = nonNegativeFloat(parsed)
	return nil
}

// disabled is the bind address that turns an endpoint off, as controller-runtime reads it.
const disabled = "0"

// bindAddress is a TCP address to listen on, host:port with the host optional (":8080",
// "127.0.0.1:8080", "[::1]:8080", "localhost:8080") and the port a number up to 65535 (0 picks
// a free one), or "0" to disable the endpoint.
type bindAddress string

func (a *bindAddress) String() string { return string(*a) }
func (a *bindAddress) Set(v string) error {
	if v == disabled {
		*a = bindAddress(v)
		return nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%q is not host:port such as :8080 or 127.0.0.1:8080 (or 0 to disable)", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: the port %q is not a number from 0 to 65535", v, port)
	}
	if host != "" && net.ParseIP(host) == nil && len(validation.IsDNS1123Subdomain(strings.ToLower(host))) > 0 {
		return fmt.Errorf("%q: the host %q is neither an IP address nor a host name", v, host)
	}
	*a = bindAddress(v)
	return nil
}

// namespace is a Kubernetes namespace name (a DNS-1123 label).
type namespace string

func (n *namespace) String() string { return string(*n) }
func (n *namespace) Set(v string) error {
	if problems := validation.IsDNS1123Label(v); len(problems) > 0 {
		return fmt.Errorf("%q is not a namespace name: %s", v, strings.Join(problems, "; "))
	}
	*n = namespace(v)
	return nil
}

type absoluteURL string

func (u *absoluteURL) String() string { return string(*u) }
func (u *absoluteURL) Set(v string) error {
	parsed, err := url.Parse(v)
	if err != nil || parsed.Host == "" || (parsed.Scheme != "http" && parsed.Scheme != "https") {
		return fmt.Errorf("%q is not an absolute http(s) URL such as http://kagent-controller.kagent:8083", v)
	}
	*u = absoluteURL(v)
	return nil
}

type nonEmpty string

func (s *nonEmpty) String() string { return string(*s) }
func (s *nonEmpty) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("must not be empty")
	}
	*s = nonEmpty(v)
	return nil
}

// headers collects Name=value pairs, one per use of the flag.
type headers map[string]string

func (h *headers) String() string {
	var parts []string
	for k, v := range *h {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
func (h *headers) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if name = strings.TrimSpace(name); !ok || name == "" {
		return fmt.Errorf("%q is not Name=value", v)
	}
	if *h == nil {
		*h = map[string]string{}
	}
	(*h)[name] = value
	return nil
}

// guarantee is at-least-once or at-most-once.
type guarantee delivery.Guarantee

func (g *guarantee) String() string { return string(*g) }
func (g *guarantee) Set(v string) error {
	switch delivery.Guarantee(v) {
	case delivery.AtLeastOnce, delivery.AtMostOnce:
		*g = guarantee(v)
		return nil
	}
	return fmt.Errorf("%q is neither %s nor %s", v, delivery.AtLeastOnce, delivery.AtMostOnce)
}

// list is a comma-separated list; blanks around and between items are dropped.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }
func (l *list) Set(v string) error {
	*l = splitList(v)
	return nil
}

// agentNamespaces is a list of namespace names, @self and *: an entry that is none of these
// could allow nothing, and is refused.
type agentNamespaces []string

func (l *agentNamespaces) String() string { return strings.Join(*l, ",") }
func (l *agentNamespaces) Set(v string) error {
	parsed, err := hook.ParseAllowList("", v)
	if err != nil {
		return err
	}
	*l = parsed.Entries
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
