package matching

import (
	"sort"
	"sync"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
)

// Match is one configuration of one hook that an event matched.
type Match struct {
	Hook          hook.Ref
	Configuration hook.Configuration
}

type indexKey struct {
	eventType event.Type
	namespace string
}

// Index holds the current hooks, indexed by event type and namespace. It is safe for concurrent
// use: the reconciler writes while sources read.
type Index struct {
	clusterEventNamespaces []string

	mu     sync.RWMutex
	hooks  map[hook.Ref]hook.Hook
	byKey  map[indexKey]map[hook.Ref]struct{}
	byNS   map[string]int // hooks per namespace, to tell sources which namespaces matter
	byType map[event.Type]int
}

// NewIndex returns an empty index. Events without a namespace match hooks in
// clusterEventNamespaces only.
func NewIndex(clusterEventNamespaces ...string) *Index {
	return &Index{
		clusterEventNamespaces: clusterEventNamespaces,
		hooks:                  map[hook.Ref]hook.Hook{},
		byKey:                  map[indexKey]map[hook.Ref]struct{}{},
		byNS:                   map[string]int{},
		byType:                 map[event.Type]int{},
	}
}

// Upsert adds h or replaces the hook of the same ref.
func (x *Index) Upsert(h hook.Hook) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.removeLocked(h.Ref)
	x.hooks[h.Ref] = h
	x.byNS[h.Ref.Namespace]++
	for _, t := range h.EventTypes() {
		k := indexKey{eventType: t, namespace: h.Ref.Namespace}
		if x.byKey[k] == nil {
			x.byKey[k] = map[hook.Ref]struct{}{}
		}
		x.byKey[k][h.Ref] = struct{}{}
		x.byType[t]++
	}
}

// Remove drops the hook ref; removing an unknown ref does nothing.
func (x *Index) Remove(ref hook.Ref) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.removeLocked(ref)
}

func (x *Index) removeLocked(ref hook.Ref) {
	old, ok := x.hooks[ref]
	if !ok {
		return
	}
	delete(x.hooks, ref)
	if x.byNS[ref.Namespace]--; x.byNS[ref.Namespace] == 0 {
		delete(x.byNS, ref.Namespace)
	}
	for _, t := range old.EventTypes() {
		k := indexKey{eventType: t, namespace: ref.Namespace}
		delete(x.byKey[k], ref)
		if len(x.byKey[k]) == 0 {
			delete(x.byKey, k)
		}
		if x.byType[t]--; x.byType[t] == 0 {
			delete(x.byType, t)
		}
	}
}

// Get returns the hook of ref, if indexed.
func (x *Index) Get(ref hook.Ref) (hook.Hook, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	h, ok := x.hooks[ref]
	return h, ok
}

// Match returns every (hook, configuration) pair that e matches, ordered by hook then spec order.
func (x *Index) Match(e event.Event) []Match {
	namespaces := []string{e.Namespace}
	if e.Namespace == "" {
		namespaces = x.clusterEventNamespaces
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	var refs []hook.Ref
	for _, ns := range namespaces {
		for ref := range x.byKey[indexKey{eventType: e.Type, namespace: ns}] {
			refs = append(refs, ref)
		}
	}
	sort.Slice(refs, func(i, j int) bool {
		if refs[i].Namespace != refs[j].Namespace {
			return refs[i].Namespace < refs[j].Namespace
		}
		return refs[i].Name < refs[j].Name
	})
	var out []Match
	for _, ref := range refs {
		for _, c := range x.hooks[ref].ConfigurationsFor(e.Type) {
			out = append(out, Match{Hook: ref, Configuration: c})
		}
	}
	return out
}

// WatchesNamespace reports whether any hook lives in ns.
func (x *Index) WatchesNamespace(ns string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.byNS[ns] > 0
}
