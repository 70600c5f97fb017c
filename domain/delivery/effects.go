package delivery

import (
	"context"
	"slices"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/incident"
	"github.com/khook-dev/khook/ports"
)

// effects collects what must happen before and after the engine's lock is released: lanes with
// a freed slot to pump (under the lock), then status changes to announce and audit records to
// write, so that neither runs under the lock.
type effects struct {
	e       *Engine
	lanes   []*lane
	changes []change
	records []auditItem
	// sender: the lock is held by a goroutine that has just finished a send; next is the attempt
	// it takes on (see startSend).
	sender bool
	next   *attempt
}

// change names an incident whose records changed.
type change struct {
	ref hook.Ref
	key incident.Key
}

type auditItem struct {
	ref hook.Ref
	rec ports.AuditRecord
}

// begin locks the engine and returns the effects to run when end unlocks it.
func (e *Engine) begin() *effects {
	e.mu.Lock()
	return &effects{e: e}
}

// changed notes that the records of en's incident changed.
func (fx *effects) changed(en *entry) {
	fx.changes = append(fx.changes, change{en.rec.Hook, en.rec.Key})
}

// pump asks for l to be pumped before the lock is released: a slot of it was freed.
func (fx *effects) pump(l *lane) {
	for _, x := range fx.lanes {
		if x == l {
			return
		}
	}
	fx.lanes = append(fx.lanes, l)
}

func (fx *effects) audit(en *entry, kind ports.AuditKind, warning bool, msg string) {
	fx.records = append(fx.records, auditItem{ref: en.rec.Hook, rec: ports.AuditRecord{Kind: kind, Warning: warning, Message: msg,
		Resource: en.rec.Resource, HookUID: en.rec.HookUID}})
}

func (fx *effects) end() {
	for _, l := range fx.lanes {
		fx.e.pump(fx, l)
	}
	fx.e.mu.Unlock()
	for i, c := range fx.changes {
		if !slices.Contains(fx.changes[:i], c) {
			fx.e.deps.Changed(c.ref, c.key)
		}
	}
	for _, a := range fx.records {
		fx.e.deps.Audit.Record(context.Background(), a.ref, a.rec)
	}
}
