package sources

import (
	"context"
	"errors"
	"fmt"
	"maps"
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
	log     logr.Logger
	metrics Metrics
	global  GlobalSettings
	runs    []*run
	types   []event.Type
	mapped  bool // some mapping applies: apply has work to do
	// byName holds the mappings of events' own names (event.Event.SourceType, such as an
	// alert's name) by source, name and the type the source gave the event, each already
	// merged with the mapping of that type's kind; byKind the mappings of whole kinds (a
	// declared internal type, or an event type) by source and type. See apply.
	byName map[nameKey]*Mapping
	byKind map[kindKey]*Mapping

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

type nameKey struct {
	source, own string
	typ         event.Type
}

type kindKey struct {
	source string
	typ    event.Type
}

// run is one enabled source under the router.
type run struct {
	name    string
	version string
	origin  string // "registered" or "plugin <path>"
	src     ports.EventSource
	info    ports.SourceInfo // as Info gave it after Init
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
// plugins (a name reg holds is never loaded as a plugin: its pluginPath is logged and
// ignored), initialises every enabled source with its settings, and checks that no event type
// is provided by two sources and that each mapping of an enabled source names something the
// source can report. A mapping of a source khook does not know is kept and logged (it never
// applies) unless its name is a typo away from a known one. Each problem names the file, line
// and key when cfg was loaded from files. Nothing runs until Run. A nil cfg is the zero Config;
// plugins may be nil when no plugin can be loaded.
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
		byName: map[nameKey]*Mapping{}, byKind: map[kindKey]*Mapping{}, allUp: make(chan struct{}), settle: make(chan struct{}),
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
		x.info, x.version = info, info.Version
		if len(info.EventTypes) == 0 {
			errs = append(errs, r.sourceError(cfg, keys[i], x, "provides no event types"))
		}
		for _, t := range info.EventTypes {
			claim(x, t, keys[i])
		}
		for _, err := range checkInternalTypes(info) {
			errs = append(errs, r.sourceError(cfg, keys[i], x, "%v", err))
		}
	}
	plans := map[*run]*mappingPlan{}
	known := knownNames(reg, cfg)
	for i := range cfg.Mappings {
		m := &cfg.Mappings[i]
		p := fmt.Sprintf("mappings[%d]", i)
		if !known[m.EventSource] {
			if near := nearest(m.EventSource, known); near != "" {
				errs = append(errs, cfg.errorf(p+".eventSource", "no source is named %q; did you mean %q? (known: %s; a mapping for a source khook does not run is kept and never applies, but this name is a typo's distance from %q)",
					m.EventSource, near, strings.Join(sortedKeys(known), ", "), near))
				continue
			}
			log.Info("event mapping for a source khook does not run: it never applies", "mapping", p, "eventSource", m.EventSource,
				"internalType", m.InternalType, "known", strings.Join(sortedKeys(known), ", "))
			continue
		}
		x, enabled := byName[m.EventSource]
		if !enabled {
			continue // a mapping for a disabled source waits for it to be enabled
		}
		plan := plans[x]
		if plan == nil {
			plan = &mappingPlan{kinds: map[event.Type]int{}}
			plans[x] = plan
		}
		typ, isKind, ok := ownName(x.info, m.InternalType)
		switch {
		case !ok:
			errs = append(errs, cfg.errorf(p+".internalType", "%s", unknownOwnName(x, m)))
			continue
		case isKind && !slices.Contains(x.info.EventTypes, typ):
			log.Info("event mapping never applies: its source, as configured, does not report that kind", "mapping", p,
				"eventSource", m.EventSource, "internalType", m.InternalType, "eventType", typ, "provides", x.info.EventTypes)
			continue
		case isKind:
			if j, dup := plan.kinds[typ]; dup {
				_, line := cfg.where(fmt.Sprintf("mappings[%d]", j))
				errs = append(errs, cfg.errorf(p+".internalType", "%s: %q and %q (%s) both name its %s events: keep one mapping",
					x.describe(), m.InternalType, cfg.Mappings[j].InternalType, at(j, line, "mappings"), typ))
				continue
			}
			plan.kinds[typ] = i
		default:
			plan.names = append(plan.names, i)
		}
		if m.EventType != "" {
			claim(x, m.EventType, p+".eventType")
		}
	}
	if len(errs) > 0 {
		stopAll()
		return nil, errors.Join(errs...)
	}
	for x, plan := range plans {
		r.plan(x, plan, cfg.Mappings)
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
			enabled = s.IsEnabled()
			if s.PluginPath != "" && enabled {
				// The design's file gives its built-in sources a pluginPath too: a built-in
				// source is never replaced by a plugin (nor stopped by a missing file).
				r.log.Info("event source is built in: its pluginPath is ignored (give a plugin another name to load it)",
					"source", name, "pluginPath", s.PluginPath)
			}
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

// Handle maps e, bounds what it carries (event.Event.Bounded), and queues it on its key's shard,
// waiting while the shard is full; it returns at once when ctx (or the router's) is done, and
// then e may not have been taken.
func (in *intake) Handle(ctx context.Context, e event.Event) {
	r := in.r
	if e.Source == "" {
		e.Source = in.run.name
	}
	r.apply(in.run.name, &e)
	e = e.Bounded() // what the dedup store keeps of it, whatever the source (no cost when it fits)
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

// mappingPlan lists the mappings of one enabled source, by index in Config.Mappings: those
// naming a kind (a declared internal type or an event type), by the type of that kind, and
// those naming events' own names.
type mappingPlan struct {
	kinds map[event.Type]int
	names []int
}

// plan fills the router's lookup tables with x's mappings. A name's mapping is stored once for
// each type of x, merged with the mapping of that type's kind when there is one, so that apply
// does one lookup for a named event and never merges (nor allocates) on the hot path.
func (r *Router) plan(x *run, p *mappingPlan, all []Mapping) {
	kinds := map[event.Type]*Mapping{}
	for typ, i := range p.kinds {
		m := all[i] // a copy: the configuration may change after
		kinds[typ] = &m
		r.byKind[kindKey{x.name, typ}] = &m
	}
	for _, i := range p.names {
		m := all[i]
		for _, typ := range x.info.EventTypes {
			merged := &m
			if k, ok := kinds[typ]; ok {
				merged = merge(k, &m)
			}
			r.byName[nameKey{x.name, m.InternalType, typ}] = merged
		}
	}
	r.mapped = r.mapped || len(p.kinds)+len(p.names) > 0
}

// merge is the mapping of a named event whose kind has a mapping too: what the name's mapping
// sets wins, what it leaves empty comes from the kind's; tags are joined (the name's win).
func merge(kind, name *Mapping) *Mapping {
	out := *name
	if out.EventType == "" {
		out.EventType = kind.EventType
	}
	if out.Description == "" {
		out.Description = kind.Description
	}
	if out.Severity == "" {
		out.Severity = kind.Severity
	}
	if len(kind.Tags) > 0 {
		tags := make(map[string]string, len(kind.Tags)+len(name.Tags))
		maps.Copy(tags, kind.Tags)
		maps.Copy(tags, name.Tags)
		out.Tags = tags
	}
	return &out
}

// ownName says what a mapping's internalType names among info's: a kind (a declared internal
// type, or one of its event types) with the type of that kind; else an event's own name, when
// the source may have such names (ok is false when it cannot).
func ownName(info ports.SourceInfo, own string) (typ event.Type, isKind, ok bool) {
	for _, k := range info.InternalTypes {
		if k.Name == own {
			return k.Type, true, true
		}
	}
	if t := event.Type(own); slices.Contains(info.EventTypes, t) {
		return t, true, true
	}
	return "", false, len(info.InternalTypes) == 0 || info.NamedEvents
}

// unknownOwnName explains a mapping whose internalType names nothing its source knows, and
// tells a mapping in the old spelling (eventType holding the source's name) what to swap.
func unknownOwnName(x *run, m *Mapping) string {
	var names, types []string
	for _, k := range x.info.InternalTypes {
		names = append(names, k.Name)
	}
	for _, t := range x.info.EventTypes {
		types = append(types, string(t))
	}
	msg := fmt.Sprintf("%s has no event named %q (its names: %s; or its event types: %s)",
		x.describe(), m.InternalType, strings.Join(names, ", "), strings.Join(types, ", "))
	if m.EventType != "" {
		if _, isKind, _ := ownName(x.info, string(m.EventType)); isKind {
			msg += fmt.Sprintf(", and eventType %q is one of them: this looks like the old spelling: swap eventType and internalType %s", m.EventType, oldSpelling)
		}
	}
	return msg
}

// checkInternalTypes checks what a source declares of its own names.
func checkInternalTypes(info ports.SourceInfo) []error {
	var errs []error
	seen := map[string]bool{}
	for _, k := range info.InternalTypes {
		switch {
		case k.Name == "" || len(k.Name) > MaxInternalTypeLength:
			errs = append(errs, fmt.Errorf("internal type %q: a name is 1 to %d bytes", k.Name, MaxInternalTypeLength))
		case seen[k.Name]:
			errs = append(errs, fmt.Errorf("internal type %q is declared twice", k.Name))
		}
		seen[k.Name] = true
		if err := k.Type.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("internal type %q: %w", k.Name, err))
		}
	}
	return errs
}

// nearest returns the known name within two edits of name (a typo), or "".
func nearest(name string, known map[string]bool) string {
	if len(name) < 4 {
		return ""
	}
	best, bestD := "", 3
	for _, k := range sortedKeys(known) {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and swaps of neighbours that
// turn a into b (optimal string alignment).
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// apply gives e what its mapping says: the mapping of its own name (SourceType) under the type
// its source gave it (merged with that type's kind mapping), else the mapping of its kind.
func (r *Router) apply(source string, e *event.Event) {
	if !r.mapped {
		return
	}
	m, ok := (*Mapping)(nil), false
	if e.SourceType != "" {
		m, ok = r.byName[nameKey{source, e.SourceType, e.Type}]
	}
	if !ok {
		if m, ok = r.byKind[kindKey{source, e.Type}]; !ok {
			return
		}
	}
	if m.EventType != "" {
		e.Type = m.EventType
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
