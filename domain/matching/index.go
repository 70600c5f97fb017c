package matching

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
)

// Target is one Hook an event matched, with what it asks for events of that type.
type Target struct {
	Hook hook.Ref
	UID  string
	// Configurations are the Hook's configurations for the event's type, in spec order.
	Configurations []hook.Configuration
	// Agents are the distinct agents of Configurations, in spec order.
	Agents []hook.AgentRef
	// Selector picks, by their labels, the resources whose trouble the Hook takes (the
	// Configurations agree on it); the zero Selector takes all.
	Selector hook.Selector
}

// Matches is what every event of one type in one namespace matches. It is shared and must not
// be changed; a Hook change there makes a new one.
type Matches struct {
	// Set names this set of targets: no other Matches, before or after, has the same Set, so
	// a consumer may remember facts about it (package dedup does). Never zero.
	Set uint64
	// Targets are ordered by hook namespace, then name.
	Targets []Target
	// Hooks are the Targets' hooks, in the same order.
	Hooks []hook.Ref

	// selective: some target has a selector; Select narrows the targets to an event's labels.
	selective bool
	subsets   *subsets
}

// Index holds the current hooks, indexed by namespace and event type. It is safe for concurrent
// use and built for event storms: a lookup takes no lock and allocates nothing, because what
// each namespace and type matches is computed when a Hook changes, not when an event arrives.
type Index struct {
	cluster map[string]bool // namespaces whose Hooks see events without a namespace

	mu      sync.Mutex // serialises writers
	lastSet uint64
	// subsetSets numbers the Matches that Select makes (their Sets have the top bit set, so
	// they never meet the Sets of newMatches).
	subsetSets atomic.Uint64
	// agents counts, for each agent, the indexed Hooks that name it (a Hook naming it in several
	// configurations counts once). Only writers use it; a lookup never does.
	agents map[hook.AgentRef]int
	// spaces maps each namespace ever indexed (and "" for events without one) to its current
	// view. The map is replaced only when a namespace first appears; a view is replaced whenever
	// a Hook of its namespace changes.
	spaces atomic.Pointer[map[string]*space]
}

// space is one namespace's slot: its current view.
type space struct{ view atomic.Pointer[view] }

// view is what one namespace holds; it is never changed once published.
type view struct {
	hooks  map[string]hook.Hook // by name
	byType map[event.Type]*Matches
}

// NewIndex returns an empty index. Events without a namespace match hooks in
// clusterEventNamespaces only.
func NewIndex(clusterEventNamespaces ...string) *Index {
	x := &Index{cluster: map[string]bool{}, agents: map[hook.AgentRef]int{}}
	for _, ns := range clusterEventNamespaces {
		x.cluster[ns] = true
	}
	x.spaces.Store(&map[string]*space{})
	return x
}

// AgentChanges are the agents an Upsert or Remove brought into use (no indexed Hook named them
// before) or out of use (no indexed Hook names them any more), each in the order of the Hook's
// configurations. Whoever keeps something per agent (the metrics) keeps it only while it is used.
type AgentChanges struct {
	Used, Unused []hook.AgentRef
}

// Upsert adds h or replaces the hook of the same ref, and says which agents that brought into
// or out of use.
func (x *Index) Upsert(h hook.Hook) AgentChanges {
	x.mu.Lock()
	defer x.mu.Unlock()
	before := x.viewOf(h.Ref.Namespace).hooks[h.Ref.Name]
	x.change(h.Ref, &h)
	return x.recount(before, h)
}

// Remove drops the hook ref, and says which agents no Hook names any more; removing an unknown
// ref does nothing.
func (x *Index) Remove(ref hook.Ref) AgentChanges {
	x.mu.Lock()
	defer x.mu.Unlock()
	before, ok := x.viewOf(ref.Namespace).hooks[ref.Name]
	if !ok {
		return AgentChanges{}
	}
	x.change(ref, nil)
	return x.recount(before, hook.Hook{})
}

// recount moves the agent counts from what before names to what after names. The caller holds
// x.mu.
func (x *Index) recount(before, after hook.Hook) AgentChanges {
	var out AgentChanges
	was, is := agentsOf(before), agentsOf(after)
	for _, a := range is {
		if slices.Contains(was, a) {
			continue
		}
		if x.agents[a]++; x.agents[a] == 1 {
			out.Used = append(out.Used, a)
		}
	}
	for _, a := range was {
		if slices.Contains(is, a) {
			continue
		}
		if x.agents[a]--; x.agents[a] <= 0 {
			delete(x.agents, a)
			out.Unused = append(out.Unused, a)
		}
	}
	return out
}

// agentsOf lists the distinct agents h names, in the order of its configurations.
func agentsOf(h hook.Hook) []hook.AgentRef {
	var out []hook.AgentRef
	for _, c := range h.Configurations {
		if !slices.Contains(out, c.Agent) {
			out = append(out, c.Agent)
		}
	}
	return out
}

// AgentsInUse is how many distinct agents the indexed Hooks name.
func (x *Index) AgentsInUse() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.agents)
}

// change publishes a new view of ref's namespace in which ref is h (or gone when h is nil), and
// a new view of the events without a namespace when the namespace is a cluster-event one. The
// caller holds x.mu.
func (x *Index) change(ref hook.Ref, h *hook.Hook) {
	old := x.viewOf(ref.Namespace)
	next := &view{hooks: make(map[string]hook.Hook, len(old.hooks)+1), byType: make(map[event.Type]*Matches, len(old.byType)+1)}
	for name, other := range old.hooks {
		if name != ref.Name {
			next.hooks[name] = other
		}
	}
	if h != nil {
		next.hooks[ref.Name] = *h
	}
	affected := map[event.Type]bool{}
	if before, ok := old.hooks[ref.Name]; ok {
		for _, t := range before.EventTypes() {
			affected[t] = true
		}
	}
	if h != nil {
		for _, t := range h.EventTypes() {
			affected[t] = true
		}
	}
	for t, m := range old.byType {
		if !affected[t] {
			next.byType[t] = m
		}
	}
	for t := range affected {
		if m := x.matchesOf(t, next.hooks); m != nil {
			next.byType[t] = m
		}
	}
	x.publish(ref.Namespace, next)
	if x.cluster[ref.Namespace] {
		x.publishCluster(affected)
	}
}

// publishCluster rebuilds what events without a namespace match, for the types affected.
func (x *Index) publishCluster(affected map[event.Type]bool) {
	old := x.viewOf("")
	next := &view{byType: make(map[event.Type]*Matches, len(old.byType)+1)}
	for t, m := range old.byType {
		if !affected[t] {
			next.byType[t] = m
		}
	}
	namespaces := make([]string, 0, len(x.cluster))
	for ns := range x.cluster {
		namespaces = append(namespaces, ns)
	}
	slices.Sort(namespaces)
	for t := range affected {
		var all []Target
		for _, ns := range namespaces {
			if m := x.viewOf(ns).byType[t]; m != nil {
				all = append(all, m.Targets...)
			}
		}
		if len(all) > 0 {
			next.byType[t] = x.newMatches(all)
		}
	}
	x.publish("", next)
}

// matchesOf builds what an event of type t matches among hooks (all of one namespace), or nil.
func (x *Index) matchesOf(t event.Type, hooks map[string]hook.Hook) *Matches {
	var targets []Target
	for _, h := range hooks {
		configs := h.ConfigurationsFor(t)
		if len(configs) == 0 {
			continue
		}
		targets = append(targets, Target{Hook: h.Ref, UID: h.UID, Configurations: configs, Agents: h.AgentsFor(t), Selector: hook.SelectorOf(configs, t)})
	}
	if len(targets) == 0 {
		return nil
	}
	slices.SortFunc(targets, func(a, b Target) int { return strings.Compare(a.Hook.Name, b.Hook.Name) })
	return x.newMatches(targets)
}

func (x *Index) newMatches(targets []Target) *Matches {
	x.lastSet++
	m := &Matches{Set: x.lastSet, Targets: targets, Hooks: make([]hook.Ref, len(targets))}
	for i, t := range targets {
		m.Hooks[i] = t.Hook
		if !t.Selector.Empty() {
			m.selective = true
		}
	}
	if m.selective {
		m.subsets = &subsets{sets: &x.subsetSets}
	}
	return m
}

// publish makes v the view of namespace ns. The caller holds x.mu. A namespace's first view is
// in its slot before the slot is published: a reader never finds a slot without a view.
func (x *Index) publish(ns string, v *view) {
	spaces := *x.spaces.Load()
	if s, ok := spaces[ns]; ok {
		s.view.Store(v)
		return
	}
	next := make(map[string]*space, len(spaces)+1)
	for name, other := range spaces {
		next[name] = other
	}
	s := &space{}
	s.view.Store(v)
	next[ns] = s
	x.spaces.Store(&next)
}

var emptyView = &view{}

// viewOf returns the current view of namespace ns (an empty one if none).
func (x *Index) viewOf(ns string) *view {
	if s, ok := (*x.spaces.Load())[ns]; ok {
		return s.view.Load()
	}
	return emptyView
}

// Get returns the hook of ref, if indexed.
func (x *Index) Get(ref hook.Ref) (hook.Hook, bool) {
	h, ok := x.viewOf(ref.Namespace).hooks[ref.Name]
	return h, ok
}

// Match returns what e matches, or nil when it matches nothing. An event without a namespace
// matches the Hooks of the cluster-event namespaces.
func (x *Index) Match(e event.Event) *Matches {
	return x.viewOf(e.Namespace).byType[e.Type]
}

// WatchesNamespace reports whether any hook lives in ns.
func (x *Index) WatchesNamespace(ns string) bool {
	return ns != "" && len(x.viewOf(ns).hooks) > 0
}
