package portstest

import (
	"context"
	"sync"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// StatusWriter is an in-memory ports.HookStatusWriter that keeps the latest write per Hook.
type StatusWriter struct {
	// Fail, when set, is returned instead of writing activity.
	Fail func(ref hook.Ref, a ports.HookActivity) error

	mu         sync.Mutex
	activity   map[hook.Ref]ports.HookActivity
	conditions map[hook.Ref]map[string]ports.Condition
	writes     map[hook.Ref]int
}

var _ ports.HookStatusWriter = (*StatusWriter)(nil)

// WriteActivity implements ports.HookStatusWriter.
func (w *StatusWriter) WriteActivity(_ context.Context, ref hook.Ref, a ports.HookActivity) error {
	if w.Fail != nil {
		if err := w.Fail(ref, a); err != nil {
			return err
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.activity == nil {
		w.activity, w.writes = map[hook.Ref]ports.HookActivity{}, map[hook.Ref]int{}
	}
	w.activity[ref] = a
	w.writes[ref]++
	return nil
}

// WriteConditions implements ports.HookStatusWriter.
func (w *StatusWriter) WriteConditions(_ context.Context, ref hook.Ref, _ int64, conditions []ports.Condition) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conditions == nil {
		w.conditions = map[hook.Ref]map[string]ports.Condition{}
	}
	if w.conditions[ref] == nil {
		w.conditions[ref] = map[string]ports.Condition{}
	}
	for _, c := range conditions {
		w.conditions[ref][c.Type] = c
	}
	return nil
}

// Activity returns the latest activity written for ref.
func (w *StatusWriter) Activity(ref hook.Ref) ports.HookActivity {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.activity[ref]
}

// Condition returns the latest condition of type written for ref.
func (w *StatusWriter) Condition(ref hook.Ref, typ string) (ports.Condition, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, ok := w.conditions[ref][typ]
	return c, ok
}

// Writes counts the activity writes for ref.
func (w *StatusWriter) Writes(ref hook.Ref) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes[ref]
}
