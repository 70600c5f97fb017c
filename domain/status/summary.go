package status

import (
	"sort"
	"time"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/text"
	"github.com/khook-dev/khook/ports"
)

// Limits keep a Hook's status small whatever a storm throws at it: its activeEvents are a
// summary (each investigation is its own object), so that with its conditions the whole status
// stays under 64 KiB and every write succeeds. Sizes are measured as the API server receives
// them: JSON, where '<', '>', '&' and control characters take six bytes each.
type Limits struct {
	// MaxEvents: entries beyond it are left out (and counted), the least interesting first.
	MaxEvents int
	// MaxBytes bounds the encoded size of the entries.
	MaxBytes int
}

// Defaults for Limits.
const (
	DefaultMaxEvents = 50
	DefaultMaxBytes  = 24 * 1024
)

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.MaxEvents <= 0 {
		l.MaxEvents = DefaultMaxEvents
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	return l
}

// Notified says, for an event key, the investigation it belongs to and when its agents were
// told: NotifiedAt once every agent had accepted, LastNotifiedAt when one last did.
type Notified struct {
	Investigation              string
	NotifiedAt, LastNotifiedAt time.Time
}

// Summary returns what a Hook's status shows of its events, within limits: the entries given
// (the most interesting of the Hook's, see dedup.Store.Top), firing before resolved, the most
// recently seen first; firing and total count all the Hook's entries, whether shown or not. The
// result is ordered by key so that unchanged state writes nothing.
func Summary(entries []dedup.Entry, notified func(event.Key) Notified, firing, total int, counts ports.InvestigationCounts, limits Limits) ports.HookActivity {
	limits = limits.WithDefaults()
	events := make([]ports.ActiveEvent, 0, len(entries))
	for _, e := range entries {
		a := ports.ActiveEvent{
			EventType: string(e.Key.Type), Namespace: e.Key.Namespace, ResourceName: e.Key.ResourceName, Fingerprint: e.Key.Fingerprint,
			FirstSeen: seconds(e.FirstSeen), LastSeen: seconds(e.LastSeen), Status: string(e.State), Occurrences: e.Occurrences,
		}
		if e.State == dedup.Resolved {
			a.ResolvedReason, a.ResolvedAt = string(e.Resolution), seconds(e.ResolvedAt)
		}
		if notified != nil {
			n := notified(e.Key)
			a.Investigation, a.NotifiedAt, a.LastNotifiedAt = n.Investigation, seconds(n.NotifiedAt), seconds(n.LastNotifiedAt)
		}
		events = append(events, a)
	}
	sort.SliceStable(events, func(i, j int) bool { return moreInteresting(events[i], events[j]) })
	if len(events) > limits.MaxEvents {
		events = events[:limits.MaxEvents]
	}
	size := 0
	for i, a := range events {
		if size += EncodedSize(a); size > limits.MaxBytes {
			events = events[:i]
			break
		}
	}
	sort.Slice(events, func(i, j int) bool { return lessKey(events[i], events[j]) })
	return ports.HookActivity{Events: events, Omitted: max(total-len(events), 0), Firing: firing, Investigations: counts}
}

// EncodedSize is the size of an entry as the API server receives it, JSON-encoded (an upper
// bound: field names and times are counted at their longest).
func EncodedSize(a ports.ActiveEvent) int {
	const fields = 420 // names, quotes and punctuation of every field, and its five times
	return fields + text.JSONLen(a.EventType) + text.JSONLen(a.Namespace) + text.JSONLen(a.ResourceName) + text.JSONLen(a.Fingerprint) +
		text.JSONLen(a.ResolvedReason) + text.JSONLen(a.Investigation)
}

// moreInteresting orders entries for the cap: firing before resolved, the most recently seen
// first.
func moreInteresting(a, b ports.ActiveEvent) bool {
	if fa, fb := a.Status == string(dedup.Firing), b.Status == string(dedup.Firing); fa != fb {
		return fa
	}
	if !a.LastSeen.Equal(b.LastSeen) {
		return a.LastSeen.After(b.LastSeen)
	}
	return lessKey(a, b)
}

func keyOf(a ports.ActiveEvent) event.Key {
	return event.Key{Type: event.Type(a.EventType), Namespace: a.Namespace, ResourceName: a.ResourceName, Fingerprint: a.Fingerprint}
}

func lessKey(a, b ports.ActiveEvent) bool {
	if a.EventType != b.EventType {
		return a.EventType < b.EventType
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	if a.ResourceName != b.ResourceName {
		return a.ResourceName < b.ResourceName
	}
	return a.Fingerprint < b.Fingerprint
}
