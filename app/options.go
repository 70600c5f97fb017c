package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/adapters/a2a"
	"github.com/khook-dev/khook/adapters/alertmanager"
	clockadapter "github.com/khook-dev/khook/adapters/clock"
	"github.com/khook-dev/khook/adapters/kubernetes"
	"github.com/khook-dev/khook/adapters/metrics"
	"github.com/khook-dev/khook/adapters/prometheus"
	"github.com/khook-dev/khook/adapters/sources"
	kubesource "github.com/khook-dev/khook/adapters/sources/kubernetes"
	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/matching"
	"github.com/khook-dev/khook/domain/pipeline"
	"github.com/khook-dev/khook/domain/templating"
	"github.com/khook-dev/khook/domain/volume"
	"github.com/khook-dev/khook/ports"
)

// Options configure khook. Only KagentURL is required.
type Options struct {
	// KagentURL is Kagent's base URL, e.g. http://kagent-controller.kagent:8083.
	KagentURL string
	// UserID is sent to Kagent as X-User-Id (default "admin@kagent.dev").
	UserID string
	// KagentSecurity: a CA bundle, a bearer token file and extra headers for a secured Kagent.
	KagentSecurity a2a.Security
	// RequestTimeout bounds one request to Kagent: a send (the agent returns at once) or a poll
	// of a task. It never bounds an investigation (see Delivery.InvestigationTimeout). Default 30s.
	RequestTimeout time.Duration
	// Retry and Breaker tune the agent caller's resilience; zero values mean the defaults.
	Retry   a2a.RetryPolicy
	Breaker a2a.BreakerSettings
	// Delivery: the guarantee (at-least-once by default), per-agent limits, retry backoff, task
	// polling and the investigation deadline (see package delivery); zero values mean defaults.
	Delivery delivery.Options

	// Investigations bound the investigations open per Hook and waiting per agent (past them new
	// incidents are recorded as suppressed, reason backlog), and how long and how many finished
	// ones are kept (see pipeline.InvestigationLimits); zero values mean the defaults.
	Investigations pipeline.InvestigationLimits
	// Inhibition: trouble of Pods on a Node that is not ready (or was, within its grace) starts
	// no investigation, recorded as inhibited; Disabled turns it off (see pipeline.Inhibition).
	Inhibition pipeline.Inhibition
	// Volume: every agent's budget of investigations an hour (none by default); Hooks set their
	// own limits, and Silences hold what they match (see pipeline.Volume).
	Volume pipeline.Volume

	// DedupWindow: an event not seen again for this long is resolved (default 10m).
	DedupWindow time.Duration
	// CleanupInterval: how often quiet events are resolved and old ones forgotten (default 1m).
	CleanupInterval time.Duration
	// StatusFlushInterval: how often events merely seen again (their lastSeen, occurrences) are
	// written (default 1m). State changes are written within StatusCoalesceDelay.
	StatusFlushInterval time.Duration
	// StatusCoalesceDelay: after a state change, wait this long for more before writing: at most
	// one status write per Hook per delay (default 1s). A Hook whose write failed waits this long,
	// doubling with each failure in a row up to StatusFlushInterval, before its next write; other
	// Hooks' writes do not wait for it.
	StatusCoalesceDelay time.Duration
	// TickInterval: how often due retries, task polls and deadlines are looked at (default 1s).
	TickInterval time.Duration
	// ShutdownTimeout: how long sends under way may finish at shutdown (default 30s).
	ShutdownTimeout time.Duration

	// MetricsMaxAgents: how many agents have metrics series of their own (default 100); the
	// others count under agent="other". Hooks may name any agent: this bounds the series a
	// tenant can add (see package metrics).
	MetricsMaxAgents int

	// ClusterEventNamespaces: Hooks in these namespaces receive events that have no namespace.
	ClusterEventNamespaces []string
	// AllowedAgentNamespaces: the namespaces whose agents Hooks may call (namespace names,
	// hook.AllowSelf for the Hook's own, hook.AllowAny); empty allows every namespace. A
	// Namespace's annotation kagent.dev/allowed-agent-namespaces narrows it for its Hooks. A
	// configuration calling another agent is refused on its Hook's Accepted condition
	// (AgentNotAllowed), naming the rule as AllowedAgentNamespacesRule.
	AllowedAgentNamespaces []string
	// ExtraSources are further event sources, registered like the built-in ones and enabled by
	// default (EventSources may configure or disable them by name); their event types become
	// valid. One named like a built-in source (say "alertmanager") replaces it.
	ExtraSources []ports.EventSource
	// EventSources is the event-watcher configuration (sources.LoadConfig reads it from files):
	// which sources run with which settings, plugins, event mappings, buffering and restarts.
	// Nil runs the sources enabled by default (Kubernetes and ExtraSources) with the defaults.
	EventSources *sources.Config
	// Clock replaces the real clock (tests).
	Clock ports.Clock
	// ControllerName names the controller (default "khook").
	ControllerName string
	// InstanceName names this replica in audit Events (their reportingInstance); empty means
	// the host name, which in a pod is the pod's name.
	InstanceName string
	// Logger replaces the manager's logger.
	Logger *logr.Logger
}

// DefaultOptions returns the options khook uses for every field left zero (KagentURL aside).
func DefaultOptions() Options { return Options{}.withDefaults() }

func (o Options) withDefaults() Options {
	if o.UserID == "" {
		o.UserID = "admin@kagent.dev"
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = delivery.DefaultSendTimeout
	}
	o.Delivery.SendTimeout = o.RequestTimeout
	o.Delivery = o.Delivery.WithDefaults()
	o.Investigations = o.Investigations.WithDefaults()
	if o.DedupWindow <= 0 {
		o.DedupWindow = dedup.DefaultWindow
	}
	if o.CleanupInterval <= 0 {
		o.CleanupInterval = time.Minute
	}
	if o.StatusFlushInterval <= 0 {
		o.StatusFlushInterval = time.Minute
	}
	if o.StatusCoalesceDelay <= 0 {
		o.StatusCoalesceDelay = time.Second
	}
	if o.TickInterval <= 0 {
		o.TickInterval = time.Second
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.ControllerName == "" {
		o.ControllerName = "khook"
	}
	if o.MetricsMaxAgents <= 0 {
		o.MetricsMaxAgents = metrics.DefaultMaxAgents
	}
	return o
}

// Validate reports what is wrong with the options, naming the field.
func (o Options) Validate() error {
	var errs []error
	if o.KagentURL == "" {
		errs = append(errs, errors.New("Options.KagentURL is required"))
	} else if u, err := url.Parse(o.KagentURL); err != nil || u.Scheme == "" || u.Host == "" {
		errs = append(errs, fmt.Errorf("Options.KagentURL %q is not an absolute URL", o.KagentURL))
	}
	if err := o.KagentSecurity.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Options.KagentSecurity.%w", err))
	}
	if err := o.Delivery.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Options.Delivery.%w", err))
	}
	if err := o.Volume.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Options.Volume.%w", err))
	}
	if err := o.Investigations.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Options.Investigations.%w", err))
	}
	if _, err := o.agentPolicy(); err != nil {
		errs = append(errs, fmt.Errorf("Options.AllowedAgentNamespaces: %w", err))
	}
	for i, s := range o.ExtraSources {
		if s == nil {
			errs = append(errs, fmt.Errorf("Options.ExtraSources[%d] is nil", i))
			continue
		}
		info := s.Info()
		for _, t := range info.EventTypes {
			if err := t.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("Options.ExtraSources[%d] (%s): %w", i, info.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Providers that read Options or the Manager; they keep wire.go a plain list.

func provideLogger(mgr ctrl.Manager, o Options) logr.Logger {
	if o.Logger != nil {
		return *o.Logger
	}
	return mgr.GetLogger().WithName(o.ControllerName)
}

func provideClock(o Options) ports.Clock {
	if o.Clock != nil {
		return o.Clock
	}
	return clockadapter.Real()
}

// provideTickerClock is the clock that drives the Kubernetes source's periodic scan: Options.Clock
// when it has tickers (a FakeClock does), else the real clock.
func provideTickerClock(o Options) clock.WithTicker {
	if c, ok := o.Clock.(clock.WithTicker); ok {
		return c
	}
	return clock.RealClock{}
}

func provideReportingInstance(o Options) kubernetes.ReportingInstance {
	return kubernetes.ReportingInstance(o.InstanceName)
}

func provideClient(mgr ctrl.Manager) client.Client { return mgr.GetClient() }
func provideCache(mgr ctrl.Manager) cache.Cache    { return mgr.GetCache() }

// provideAPIReader reads from the API server itself, bypassing the cache.
func provideAPIReader(mgr ctrl.Manager) client.Reader { return mgr.GetAPIReader() }

func provideA2AConfig(o Options, log logr.Logger) a2a.Config {
	return a2a.Config{KagentURL: o.KagentURL, UserID: o.UserID, Security: o.KagentSecurity, Logger: log.WithName("a2a")}
}
func provideRetryPolicy(o Options) a2a.RetryPolicy { return o.Retry }
func provideMetricsOptions(o Options) metrics.Options {
	return metrics.Options{MaxAgents: o.MetricsMaxAgents}
}
func provideBreakerSettings(o Options, m *metrics.Metrics) a2a.BreakerSettings {
	b := o.Breaker
	if b.OnStateChange == nil {
		b.OnStateChange = m.BreakerState
	}
	return b
}
func provideEventMaxAge(o Options) kubesource.EventMaxAge {
	return kubesource.EventMaxAge(o.DedupWindow)
}

// provideRenderer gives the prompt renderer the app's clock, for its render deadline.
func provideRenderer(c ports.Clock) *templating.Renderer { return templating.NewRendererWithClock(c) }

// provideSilences holds the Silences the SilenceReconciler loads; those of the cluster event
// namespaces hold the Hooks of every cluster event namespace.
func provideSilences(o Options) *volume.Silences { return volume.NewSilences(o.ClusterEventNamespaces) }

func provideIndex(o Options) *matching.Index { return matching.NewIndex(o.ClusterEventNamespaces...) }

// StoreClockResolution is how stale the dedup store's reading of the time may be: it reads the
// clock on every event, and a coarse clock (adapters/clock.Coarse) answers from one reading per
// resolution. The window is minutes and status times are seconds, so 10 ms changes nothing.
const StoreClockResolution = 10 * time.Millisecond

// provideStoreClock is the dedup store's coarse clock, or nil when Options.Clock replaces the
// real clock (tests): then the store reads that.
func provideStoreClock(o Options) *clockadapter.Coarse {
	if o.Clock != nil {
		return nil
	}
	return clockadapter.NewCoarse(StoreClockResolution)
}

func provideStore(c ports.Clock, coarse *clockadapter.Coarse, o Options) *dedup.Store {
	if coarse != nil {
		return dedup.NewStore(coarse, o.DedupWindow)
	}
	return dedup.NewStore(c, o.DedupWindow)
}

// AllowedAgentNamespacesRule is how a refusal names Options.AllowedAgentNamespaces: by the flag
// that sets it in cmd/khook.
const AllowedAgentNamespacesRule = "--allowed-agent-namespaces"

// agentPolicy is the pipeline's policy from AllowedAgentNamespaces; an entry that can allow
// nothing (neither a namespace name, nor @self, nor *) is an error.
func (o Options) agentPolicy() (hook.AgentPolicy, error) {
	if len(o.AllowedAgentNamespaces) == 0 {
		return hook.AgentPolicy{}, nil
	}
	l, err := hook.ParseAllowList(AllowedAgentNamespacesRule, strings.Join(o.AllowedAgentNamespaces, ","))
	if err != nil {
		return hook.AgentPolicy{}, err
	}
	if len(l.Entries) == 0 { // only blanks: as if empty
		return hook.AgentPolicy{}, nil
	}
	return hook.AgentPolicy{Allowed: &l}, nil
}

func providePipeline(index *matching.Index, store *dedup.Store, renderer *templating.Renderer, agent ports.AgentCaller,
	audit ports.AuditRecorder, status ports.HookStatusWriter, investigations ports.InvestigationStore, clk ports.Clock, metrics ports.Metrics,
	log logr.Logger, router *sources.Router, nodes *kubesource.NodeStates, silences *volume.Silences, held ports.SilenceCounter, o Options) (*pipeline.Pipeline, error) {
	known := router.EventTypes() // of the enabled sources, mapped types included
	policy, err := o.agentPolicy()
	if err != nil {
		return nil, fmt.Errorf("Options.AllowedAgentNamespaces: %w", err)
	}
	return pipeline.New(pipeline.Dependencies{
		Index: index, Store: store, Renderer: renderer, Agent: agent, Audit: audit, Status: status, Investigations: investigations,
		Clock: clk, Nodes: nodes, Silences: silences, SilenceCounter: held, Metrics: metrics, Logger: slog.New(logr.ToSlogHandler(log.WithName("pipeline"))),
	}, pipeline.Options{KnownEventTypes: known, Delivery: o.Delivery, AgentPolicy: policy, Investigations: o.Investigations, Inhibition: o.Inhibition, Volume: o.Volume,
		StatusRetryInitial: o.StatusCoalesceDelay, StatusRetryMax: o.StatusFlushInterval})
}

// provideRegistry registers the built-in sources (Kubernetes, enabled by default; Alertmanager
// and Prometheus, when the configuration enables them) and ExtraSources (enabled by default).
// An extra source named like a built-in one replaces it.
func provideRegistry(k *kubesource.EventSource, am *alertmanager.Source, prom *prometheus.Source, o Options) (*sources.Registry, error) {
	reg := sources.NewRegistry()
	extra := map[string]bool{}
	for _, s := range o.ExtraSources {
		extra[s.Info().Name] = true
	}
	for _, b := range []struct {
		src     ports.EventSource
		enabled bool
	}{{k, true}, {am, false}, {prom, false}} {
		if extra[b.src.Info().Name] {
			continue
		}
		if err := reg.Register(b.src, b.enabled); err != nil {
			return nil, err
		}
	}
	for i, s := range o.ExtraSources {
		if err := reg.Register(s, true); err != nil {
			return nil, fmt.Errorf("Options.ExtraSources[%d]: %w", i, err)
		}
	}
	return reg, nil
}

func provideSourcesConfig(o Options) *sources.Config { return o.EventSources }
