package portstest

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// Investigations is an in-memory ports.InvestigationStore that behaves as the API server does:
// each write takes a new version, a status write over another version than the current is a
// conflict, and a create of a name that exists is a conflict too.
type Investigations struct {
	// Fail, when set, is returned instead of saving inv.
	Fail func(inv ports.Investigation) error

	mu      sync.Mutex
	objects map[hook.Ref]map[string]ports.Investigation
	version int
	saves   map[string]int
	deletes int
}

var _ ports.InvestigationStore = (*Investigations)(nil)

// Save implements ports.InvestigationStore.
func (s *Investigations) Save(_ context.Context, inv ports.Investigation) (string, error) {
	if s.Fail != nil {
		if err := s.Fail(inv); err != nil {
			return "", err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.objects == nil {
		s.objects, s.saves = map[hook.Ref]map[string]ports.Investigation{}, map[string]int{}
	}
	byName := s.objects[inv.Hook]
	if byName == nil {
		byName = map[string]ports.Investigation{}
		s.objects[inv.Hook] = byName
	}
	cur, exists := byName[inv.Name]
	switch {
	case inv.Version == "" && exists:
		return "", fmt.Errorf("investigations.kagent.dev %q already exists: %w", inv.Name, ports.ErrConflict)
	case inv.Version != "" && !exists:
		inv.Version = "" // deleted meanwhile: the API server answers not found; the store creates it again
	case inv.Version != "" && cur.Version != inv.Version:
		return "", fmt.Errorf("the object has been modified: %w", ports.ErrConflict)
	}
	if exists { // the spec never changes once written
		inv.EventType, inv.Subject, inv.GroupBy, inv.StartedAt, inv.Event = cur.EventType, cur.Subject, cur.GroupBy, cur.StartedAt, cur.Event
	}
	s.version++
	inv.Version = strconv.Itoa(s.version)
	byName[inv.Name] = inv
	s.saves[inv.Name]++
	return inv.Version, nil
}

// Get implements ports.InvestigationStore.
func (s *Investigations) Get(_ context.Context, ref hook.Ref, name string) (ports.Investigation, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.objects[ref][name]
	return inv, ok, nil
}

// List implements ports.InvestigationStore.
func (s *Investigations) List(_ context.Context, ref hook.Ref, hookUID string) ([]ports.Investigation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ports.Investigation
	for _, inv := range s.objects[ref] {
		if hookUID == "" || inv.HookUID == hookUID {
			out = append(out, inv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Delete implements ports.InvestigationStore.
func (s *Investigations) Delete(_ context.Context, ref hook.Ref, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[ref][name]; ok {
		delete(s.objects[ref], name)
		s.deletes++
	}
	return nil
}

// Put stores inv as another writer would (a deposed leader): a new version, whatever it had.
func (s *Investigations) Put(inv ports.Investigation) ports.Investigation {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.objects == nil {
		s.objects, s.saves = map[hook.Ref]map[string]ports.Investigation{}, map[string]int{}
	}
	if s.objects[inv.Hook] == nil {
		s.objects[inv.Hook] = map[string]ports.Investigation{}
	}
	s.version++
	inv.Version = strconv.Itoa(s.version)
	s.objects[inv.Hook][inv.Name] = inv
	return inv
}

// All returns ref's investigations, ordered by name.
func (s *Investigations) All(ref hook.Ref) []ports.Investigation {
	out, _ := s.List(context.Background(), ref, "")
	return out
}

// Saves counts the writes of investigation name.
func (s *Investigations) Saves(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves[name]
}

// Deletes counts the investigations deleted.
func (s *Investigations) Deletes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deletes
}
