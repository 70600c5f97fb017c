package delivery

import (
	"context"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// effects collects what must happen before and after the engine's lock is released: lanes with
// a freed slot to pump (under the lock), then status changes to announce and audit records to
// write, so that neither runs under the lock.
type effects struct {
	e       *Engine
	lanes   []*lane
	refs    []hook.Ref
	records []auditItem
	// sender: the lock is held by a goroutine that has just finished a send; next is the attempt
	// it takes on (see startSend).
	sender bool
	next   *attempt
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

func (fx *effects) changed(ref hook.Ref) { fx.refs = append(fx.refs, ref) }

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
	seen := map[hook.Ref]bool{}
	for _, ref := range fx.refs {
		if !seen[ref] {
			seen[ref] = true
			fx.e.deps.Changed(ref)
		}
	}
	for _, a := range fx.records {
		fx.e.deps.Audit.Record(context.Background(), a.ref, a.rec)
	}
}
