package portstest

import (
	"context"
	"sync"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// AuditLog is an in-memory ports.AuditRecorder.
type AuditLog struct {
	// OnRecord, when set, is called with each record after it is kept, outside the log's lock:
	// tests use it to make something happen at a precise moment of the pipeline's work.
	OnRecord func(ref hook.Ref, rec ports.AuditRecord)

	mu      sync.Mutex
	records []ports.AuditRecord
	hooks   []hook.Ref
}

var _ ports.AuditRecorder = (*AuditLog)(nil)

// Record implements ports.AuditRecorder.
func (l *AuditLog) Record(_ context.Context, ref hook.Ref, rec ports.AuditRecord) {
	l.mu.Lock()
	l.records = append(l.records, rec)
	l.hooks = append(l.hooks, ref)
	l.mu.Unlock()
	if l.OnRecord != nil {
		l.OnRecord(ref, rec)
	}
}

// Records returns the records of kind, in order; an empty kind means all.
func (l *AuditLog) Records(kind ports.AuditKind) []ports.AuditRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []ports.AuditRecord
	for _, r := range l.records {
		if kind == "" || r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// Count is len(Records(kind)).
func (l *AuditLog) Count(kind ports.AuditKind) int { return len(l.Records(kind)) }

// Kinds lists the kinds recorded, in order.
func (l *AuditLog) Kinds() []ports.AuditKind {
	var out []ports.AuditKind
	for _, r := range l.Records("") {
		out = append(out, r.Kind)
	}
	return out
}
