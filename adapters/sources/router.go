package sources

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

// MaxRestartDelay caps the delay between restarts of a failing source.
const MaxRestartDelay = 5 * time.Minute

// stopTimeout bounds each source's Stop at shutdown.
const stopTimeout = 10 * time.Second

// StartGrace is how long the router waits for a source that neither says it runs nor fails
// (a Watch that blocks before it delivers) before Settled stops waiting for it.
const StartGrace = 30 * time.Second

// Phase is where a source is in its life.
type Phase string

const (
	// Starting: Watch was called and the source has not said it is running yet.
	Starting Phase = "starting"
	// Running: the source is delivering events.
	Running Phase = "running"
	// Restarting: the source failed and will be restarted after a delay.
	Restarting Phase = "restarting"
	// Failed: the source failed RetryAttempts times in a row; it is still restarted, at longer
	// intervals (up to MaxRestartDelay), so that it recovers when its cause goes away.
	Failed Phase = "failed"
	// Stopped: khook is shutting down, or the router has not run yet.
	Stopped Phase = "stopped"
)

// SourceState is what the router knows about one enabled source.
type SourceState struct {
	Name    string
	Version string
	// Origin says where the source comes from: "registered" or "plugin <path>".
	Origin string
	Phase  Phase
	// Restarts counts restarts after failures since khook started.
	Restarts int
	// ConsecutiveFailures counts failures since the source last ran healthily.
	ConsecutiveFailures int
	// LastError is the latest failure ("" if none) and LastErrorTime when it happened.
	LastError     string
	LastErrorTime time.Time
}

// ErrWatchReturned is the failure of a source whose Watch returned nil before shutdown: it
// stopped delivering without saying why.
var ErrWatchReturned = errors.New("Watch returned before shutdown without an error")

// Router runs the enabled event sources and fans their events into the pipeline. It applies
// the event mappings, buffers events in shards by dedup key (one worker per shard, so events of
// one key stay in order), and isolates failures: a source whose Watch fails, panics or returns
// early is restarted with backoff and reported, and never stops the others. Make one with
// NewRouter; Run it once.
type Router struct {
	log      logr.Logger
	metrics  Metrics
	global   GlobalSettings
	runs     []*run
	mappings map[mapKey]*Mapping
	types    []event.Type

	healthyAfter time.Duration // a source that ran this long has its failures forgotten

	started atomic.Bool
	shards  []chan event.Event
	done    <-chan struct{} // Run's context

	startGrace time.Duration // StartGrace, shorter in tests

	mu      sync.Mutex
	everUp  int
	allUp   chan struct{}
	settled int
	settle  chan struct{} // closed by Settled's rule
}

type mapKey struct{ source, sourceType string }

// run is one enabled source under the router.
type run struct {
	name    string
	version string
	origin  string // "registered" or "plugin <path>"
	src     ports.EventSource
	claimed map[event.Type]bool
	warned  sync.Map // event types delivered without being declared, logged once

	// guarded by Router.mu
	state   SourceState
	everUp  bool
	settled bool // it ran, failed, or had StartGrace to do either
}

func (r *run) describe() string {
	if strings.HasPrefix(r.origin, "plugin ") {
		return fmt.Sprintf("source %q (%s)", r.name, r.origin)
	}
	return fmt.Sprintf("source %q", r.name)
}

// NewRouter prepares the sources cfg enables among reg's and the plugins it names: it loads the
// plugins, initialises every enabled source with its settings, and checks that no event type
// is provided by two sources and that every mapping names a known source. Each problem names
// the file, line and key when cfg was loaded from files. Nothing runs until Run. A nil cfg is
// the zero Config; plugins may be nil when no plugin can be loaded.
func NewRouter(ctx context.Context, reg *Registry, cfg *Config, plugins PluginLoader, metrics Metrics, log logr.Logger) (*Router, error) {
	if reg == nil {
		return nil, errors.New("event source router: registry is nil")
	}
	if cfg == nil {
		cfg = &Config{}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if metrics == nil {
		metrics = NoMetrics{}
	}
	r := &Router{
		log: log, metrics: metrics, global: cfg.GlobalSettings.WithDefaults(),
		mappings: map[mapKey]*Mapping{}, allUp: make(chan struct{}), settle: make(chan struct{}),
		startGrace: StartGrace,
	}
	r.healthyAfter = max(10*r.global.RetryBackoff, time.Second)

	runs, keys, errs := r.choose(reg, cfg, plugins)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Initialise, then ask each source what it provides: settings may choose its event types.
	var initialised []*run
	stopAll := func() {
		for _, x := range initialised {
			if err := x.src.Stop(context.WithoutCancel(ctx)); err != nil {
				log.Error(err, "stopping event source after a failed start", "source", x.name)
			}
		}
	}
	for i, x := range runs {
		settings := ports.Settings(nil)
		if keys[i] != "" {
			settings = cfg.EventSources[cfg.indexOf(x.name)].Settings
		}
		if err := initSource(ctx, x.src, settings); err != nil {
			errs = append(errs, r.sourceError(cfg, keys[i], x, "initialising: %v", err))
			continue
		}
		initialised = append(initialised, x)
	}
	if len(errs) > 0 {
		stopAll()
		return nil, errors.Join(errs...)
	}
	owner := map[event.Type]*run{}
	claim := func(x *run, t event.Type, key string) {
		if err := t.Validate(); err != nil {
			errs = append(errs, r.sourceError(cfg, key, x, "%v", err))
			return
		}
		if other, taken := owner[t]; taken && other != x {
			errs = append(errs, r.sourceError(cfg, key, x, "event type %q is provided by both %s and %s", t, other.describe(), x.describe()))
			return
		}
		owner[t] = x
		x.claimed[t] = true
	}
	byName := map[string]*run{}
	for i, x := range runs {
		byName[x.name] = x
		info := x.src.Info()
		x.version = info.Version
		if len(info.EventTypes) == 0 {
			errs = append(errs, r.sourceError(cfg, keys[i], x, "provides no event types"))
		}
		for _, t := range info.EventTypes {
			claim(x, t, keys[i])
		}
	}
	known := knownNames(reg, cfg)
	for i := range cfg.Mappings {
		m := &cfg.Mappings[i]
		p := fmt.Sprintf("mappings[%d]", i)
		if !known[m.EventSource] {
			errs = append(errs, cfg.errorf(p+".eventSource", "no source is named %q (known: %s)", m.EventSource, strings.Join(sortedKeys(known), ", ")))
			continue
		}
		x, enabled := byName[m.EventSource]
		if !enabled {
			continue // a mapping for a disabled source waits for it to be enabled
		}
		if m.InternalType != "" {
			claim(x, m.InternalType, p+".internalType")
		}
		r.mappings[mapKey{m.EventSource, m.EventType}] = m
	}
	if len(errs) > 0 {
		stopAll()
		return nil, errors.Join(errs...)
	}
	r.runs = runs
	for t := range owner {
		r.types = append(r.types, t)
	}
	slices.Sort(r.types)
	for _, x := range runs {
		x.state = SourceState{Name: x.name, Version: x.version, Origin: x.origin, Phase: Stopped}
	}
	if len(runs) == 0 {
		log.Info("no event source is enabled: khook will report nothing")
	}
	return r, nil
}

// choose lists the enabled sources (registered ones first, in order, then plugins in the
// configuration's order), loading the plugins, with the key path of each one's configuration
// entry ("" when it has none).
func (r *Router) choose(reg *Registry, cfg *Config, plugins PluginLoader) ([]*run, []string, []error) {
	var runs []*run
	var keys []string
	var errs []error
	add := func(name, origin string, src ports.EventSource, key string) {
		runs = append(runs, &run{name: name, origin: origin, src: src, claimed: map[event.Type]bool{}})
		keys = append(keys, key)
	}
	for _, e := range reg.entries {
		name := e.src.Info().Name
		enabled, key := e.enabledByDefault, ""
		if i := cfg.indexOf(name); i >= 0 {
			s := cfg.EventSources[i]
			key = fmt.Sprintf("eventSources[%d]", i)
			if s.PluginPath != "" {
				errs = append(errs, cfg.errorf(key+".pluginPath", "source %q is built in; give the plugin another name", name))
				continue
			}
			enabled = s.IsEnabled()
		}
		switch {
		case enabled:
			add(name, "registered", e.src, key)
		case key != "":
			r.log.Info("event source disabled", "source", name)
		}
	}
	for i, s := range cfg.EventSources {
		if _, registered := reg.byName[s.Name]; registered || s.Name == "" {
			continue
		}
		key := fmt.Sprintf("eventSources[%d]", i)
		if !s.IsEnabled() {
			r.log.Info("event source disabled", "source", s.Name)
			continue
		}
		path := s.PluginPath
		if path == "" {
			if cfg.PluginDirectory == "" {
				errs = append(errs, cfg.errorf(key+".name", "no source is named %q (built in: %s), and neither pluginPath nor pluginDirectory says where to load it from as a plugin",
					s.Name, strings.Join(reg.Names(), ", ")))
				continue
			}
			path = filepath.Join(cfg.PluginDirectory, s.Name+".so")
		}
		if plugins == nil {
			errs = append(errs, cfg.errorf(key, "source %q is a plugin, and this khook cannot load plugins", s.Name))
			continue
		}
		src, err := plugins.Load(s.Name, path)
		if err != nil {
			errs = append(errs, cfg.errorf(key, "%v", err))
			continue
		}
		add(s.Name, "plugin "+path, src, key)
	}
	return runs, keys, errs
}

func (r *Router) sourceError(cfg *Config, key string, x *run, format string, args ...any) error {
	msg := x.describe() + ": " + fmt.Sprintf(format, args...)
	if key == "" {
		return errors.New(msg)
	}
	return cfg.errorf(key, "%s", msg)
}

// initSource calls Init, turning a panic into an error.
func initSource(ctx context.Context, src ports.EventSource, s ports.Settings) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return src.Init(ctx, s)
}

func (c *Config) indexOf(name string) int {
	for i, s := range c.EventSources {
		if s.Name == name {
			return i
		}
	}
	return -1
}

func knownNames(reg *Registry, cfg *Config) map[string]bool {
	known := map[string]bool{}
	for name := range reg.byName {
		known[name] = true
	}
	for _, s := range cfg.EventSources {
		known[s.Name] = true
	}
	return known
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// EventTypes lists the event types the enabled sources provide (mapped types included): the
// types Hooks may use.
func (r *Router) EventTypes() []event.Type { return slices.Clone(r.types) }

// Running is closed once every enabled source has said it is running (at once when none is
// enabled). A source that never comes up (its endpoint is down, its port is taken) keeps it
// open for good: wait on Settled to know when the router serves.
func (r *Router) Running() <-chan struct{} { return r.allUp }

// Settled is closed once Run has started every enabled source and each has either said it runs
// or failed at least once (it is then restarted with backoff), or has been starting for
// StartGrace without doing either; at once when none is enabled. From then on the router serves:
// a source that does not run is one to report (Ready names it, khook_source_up says 0), not one
// to wait for, so that one source that is down never holds up the others or the replica.
func (r *Router) Settled() <-chan struct{} { return r.settle }

// States returns the state of every enabled source, in the order they run.
func (r *Router) States() []SourceState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]SourceState, len(r.runs))
	for i, x := range r.runs {
		out[i] = x.state
	}
	return out
}

// Ready reports nil when every enabled source is running, and otherwise which are not and why.
func (r *Router) Ready() error {
	var notRunning []string
	for _, s := range r.States() {
		if s.Phase == Running {
			continue
		}
		d := fmt.Sprintf("%s is %s", s.Name, s.Phase)
		if s.LastError != "" && s.Phase != Stopped {
			d += fmt.Sprintf(" after %d failure(s): %s", s.ConsecutiveFailures, s.LastError)
		}
		notRunning = append(notRunning, d)
	}
	if len(notRunning) == 0 {
		return nil
	}
	return fmt.Errorf("event sources not running: %s", strings.Join(notRunning, "; "))
}

// Check has the shape of a controller-runtime healthz.Checker: like Ready, except that a
// router that is not running (a replica that does not lead) is ready.
func (r *Router) Check(_ *http.Request) error {
	if !r.started.Load() {
		return nil
	}
	return r.Ready()
}

// Run starts the workers and every enabled source, delivering events to sink until ctx is
// done; then it stops the sources and returns nil. A failing source never makes Run return.
func (r *Router) Run(ctx context.Context, sink ports.EventSink) error {
	if sink == nil {
		return errors.New("event source router: sink is nil")
	}
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("event source router: Run called twice")
	}
	r.done = ctx.Done()
	r.shards = make([]chan event.Event, r.global.WorkerCount)
	perShard := max(1, r.global.BufferSize/r.global.WorkerCount)
	var workers sync.WaitGroup
	for i := range r.shards {
		ch := make(chan event.Event, perShard)
		r.shards[i] = ch
		workers.Go(func() { work(ctx, ch, sink) })
	}
	r.mu.Lock()
	if len(r.runs) == 0 {
		close(r.allUp)
		close(r.settle)
	}
	r.mu.Unlock()
	var supervisors sync.WaitGroup
	for _, x := range r.runs {
		r.metrics.SourceUp(x.name, false)
		supervisors.Go(func() { r.supervise(ctx, x) })
	}
	supervisors.Go(func() { r.graceOver(ctx) })
	supervisors.Wait()
	workers.Wait()
	for _, x := range r.runs {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		if err := x.src.Stop(stopCtx); err != nil {
			r.log.Error(err, "stopping event source", "source", x.name)
		}
		cancel()
	}
	return nil
}

// work hands the events of one shard to the sink, in order.
func work(ctx context.Context, ch <-chan event.Event, sink ports.EventSink) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-ch:
			sink.Handle(ctx, e)
		}
	}
}

// supervise runs x until ctx is done, restarting it with backoff after each failure.
func (r *Router) supervise(ctx context.Context, x *run) {
	failures := 0
	for {
		r.setPhase(x, Starting)
		began := time.Now()
		var up atomic.Bool
		var once sync.Once
		running := func() { once.Do(func() { up.Store(true); r.markRunning(x) }) }
		err := r.watch(ctx, x, running)
		if ctx.Err() != nil {
			r.setPhase(x, Stopped)
			r.metrics.SourceUp(x.name, false)
			return
		}
		if err == nil {
			err = ErrWatchReturned
		}
		if up.Load() && time.Since(began) >= r.healthyAfter {
			failures = 0 // it ran healthily for a while: this is a new streak
		}
		failures++
		delay := r.restartDelay(failures)
		phase := Restarting
		if failures >= r.global.RetryAttempts {
			phase = Failed
		}
		r.recordFailure(x, err, failures, phase)
		r.metrics.SourceUp(x.name, false)
		r.log.Error(err, "event source failed; restarting it", "source", x.name, "phase", phase, "consecutiveFailures", failures, "restartIn", delay.String())
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			r.setPhase(x, Stopped)
			return
		case <-t.C:
		}
		r.mu.Lock()
		x.state.Restarts++
		r.mu.Unlock()
		r.metrics.SourceRestarted(x.name)
	}
}

// watch calls x's Watch, turning a panic into an error.
func (r *Router) watch(ctx context.Context, x *run, running func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
			r.log.Error(err, "event source panicked", "source", x.name, "stack", string(debug.Stack()))
		}
	}()
	return x.src.Watch(ctx, &intake{r: r, run: x}, running)
}

// restartDelay is RetryBackoff doubled for each failure after the first, capped at
// MaxRestartDelay, with ±20% jitter so that sources failing together do not restart together.
func (r *Router) restartDelay(failures int) time.Duration {
	d := r.global.RetryBackoff
	for i := 1; i < failures && d < MaxRestartDelay; i++ {
		d *= 2
	}
	d = min(d, max(MaxRestartDelay, r.global.RetryBackoff))
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// graceOver settles, StartGrace after Run started them, the sources that have neither run nor
// failed yet.
func (r *Router) graceOver(ctx context.Context) {
	if len(r.runs) == 0 {
		return
	}
	t := time.NewTimer(r.startGrace)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-r.settle:
		return
	case <-t.C:
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.runs {
		if !x.settled {
			r.log.Info("event source has neither started nor failed; serving without it until it runs",
				"source", x.name, "waited", r.startGrace.String(), "phase", x.state.Phase)
			r.settleLocked(x)
		}
	}
}

// settleLocked notes that x ran, failed or had its time to do either; r.mu is held.
func (r *Router) settleLocked(x *run) {
	if x.settled {
		return
	}
	x.settled = true
	r.settled++
	if r.settled == len(r.runs) {
		close(r.settle)
	}
}

func (r *Router) setPhase(x *run, p Phase) {
	r.mu.Lock()
	defer r.mu.Unlock()
	x.state.Phase = p
}

func (r *Router) markRunning(x *run) {
	r.mu.Lock()
	x.state.Phase = Running
	if !x.everUp {
		x.everUp = true
		r.everUp++
		if r.everUp == len(r.runs) {
			close(r.allUp)
		}
	}
	r.settleLocked(x)
	r.mu.Unlock()
	r.metrics.SourceUp(x.name, true)
	r.log.Info("event source running", "source", x.name, "version", x.version)
}

func (r *Router) recordFailure(x *run, err error, failures int, p Phase) {
	r.mu.Lock()
	defer r.mu.Unlock()
	x.state.Phase = p
	x.state.ConsecutiveFailures = failures
	x.state.LastError = err.Error()
	x.state.LastErrorTime = time.Now()
	r.settleLocked(x)
}

// intake is the sink one source delivers into.
type intake struct {
	r   *Router
	run *run
}

var _ ports.EventSink = (*intake)(nil)

// Handle maps e and queues it on its key's shard, waiting while the shard is full; it returns
// at once when ctx (or the router's) is done, and then e may not have been taken.
func (in *intake) Handle(ctx context.Context, e event.Event) {
	r := in.r
	if e.Source == "" {
		e.Source = in.run.name
	}
	r.apply(in.run.name, &e)
	if !in.run.claimed[e.Type] {
		if _, logged := in.run.warned.LoadOrStore(e.Type, true); !logged {
			r.log.Error(nil, "event source delivered an event type it does not provide; dropping such events",
				"source", in.run.name, "eventType", e.Type, "provides", sortedTypes(in.run.claimed))
		}
		return
	}
	select {
	case r.shards[shardOf(e, len(r.shards))] <- e:
	case <-ctx.Done():
	case <-r.done:
	}
}

// apply gives e what the mapping of its source's event type says.
func (r *Router) apply(source string, e *event.Event) {
	if len(r.mappings) == 0 {
		return
	}
	own := e.SourceType
	if own == "" {
		own = string(e.Type)
	}
	m, ok := r.mappings[mapKey{source, own}]
	if !ok {
		return
	}
	if m.InternalType != "" {
		e.Type = m.InternalType
	}
	if m.Severity != "" {
		e.Severity = m.Severity
	}
	if m.Description != "" {
		e.Description = m.Description
	}
	if len(m.Tags) > 0 {
		if len(e.Tags) == 0 {
			e.Tags = m.Tags // shared, read-only
		} else {
			tags := make(map[string]string, len(e.Tags)+len(m.Tags))
			for k, v := range e.Tags {
				tags[k] = v
			}
			for k, v := range m.Tags {
				tags[k] = v
			}
			e.Tags = tags
		}
	}
}

// shardOf picks e's shard from its dedup key (FNV-1a), so that one key always goes to the
// same worker.
func shardOf(e event.Event, n int) int {
	if n == 1 {
		return 0
	}
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for _, s := range [...]string{string(e.Type), e.Namespace, e.ResourceName, e.Fingerprint} {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= prime
		}
		h ^= 0xff // separator: ("ab","c") and ("a","bc") differ
		h *= prime
	}
	return int(h % uint64(n))
}

func sortedTypes(m map[event.Type]bool) []string {
	out := make([]string, 0, len(m))
	for t := range m {
		out = append(out, string(t))
	}
	sort.Strings(out)
	return out
}
