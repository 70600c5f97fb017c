package investigation

import (
	"sort"
	"time"

	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/text"
	"github.com/khook-dev/khook/ports"
)

// What an investigation keeps of its event and its deliveries, within the CRD's limits.
const (
	// MaxKeptMessage is how much of an event's message is kept: the prompt renderer's limit for
	// one value.
	MaxKeptMessage = 4096
	// MaxKeptLabels and MaxKeptLabelValue bound the metadata and tags kept.
	MaxKeptLabels     = 64
	MaxKeptLabelValue = 512
	// MaxKeptEventBytes bounds the encoded size of the event kept: metadata and tags beyond it are
	// left out, by name.
	MaxKeptEventBytes = 24 * 1024
	// MaxDeliveryTextBytes bounds the encoded size of a delivery's summary and of its error.
	MaxDeliveryTextBytes = 1024
	// maxLastError bounds the error text a delivery keeps.
	maxLastError = 512
)

// snapshotOf is what an entry keeps of its event: every value cut to the CRD's limits, and the
// metadata and tags (by name) as far as MaxKeptEventBytes, encoded, allows.
func snapshotOf(e event.Event) *ports.EventSnapshot {
	s := &ports.EventSnapshot{
		ResourceKind: text.Cut(e.ResourceKind, MaxKeptLabelValue),
		Reason:       text.Cut(e.Reason, MaxKeptLabelValue),
		Message:      cutEncoded(e.Message, MaxKeptMessage, MaxKeptEventBytes/2),
		Timestamp:    seconds(e.Timestamp),
		Source:       text.Cut(e.Source, MaxKeptLabelValue),
		SourceType:   text.Cut(e.SourceType, MaxKeptLabelValue),
		Severity:     text.Cut(e.Severity, MaxKeptLabelValue),
		Description:  text.Cut(e.Description, MaxKeptLabelValue),
	}
	if len(e.Workload.Name) <= event.MaxResourceNameLength && len(e.Node) <= event.MaxResourceNameLength {
		s.WorkloadKind, s.WorkloadName, s.Node = text.Cut(e.Workload.Kind, MaxKeptLabelValue), e.Workload.Name, e.Node
	}
	budget := MaxKeptEventBytes - snapshotSize(s)
	s.Metadata, budget = bounded(e.Metadata, budget)
	s.Tags, budget = bounded(e.Tags, budget)
	s.Labels, _ = bounded(e.Labels, budget) // last: prompts read metadata and tags
	return s
}

// bounded keeps at most MaxKeptLabels entries of m (the first by name), values cut, as long as
// their encoded size fits budget; it returns them and what is left of budget.
func bounded(m map[string]string, budget int) (map[string]string, int) {
	if len(m) == 0 {
		return nil, budget
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, min(len(keys), MaxKeptLabels))
	for _, k := range keys {
		if len(out) == MaxKeptLabels {
			break
		}
		key, value := text.Cut(k, MaxKeptLabelValue), text.Cut(m[k], MaxKeptLabelValue)
		n := text.JSONLen(key) + text.JSONLen(value) + 2
		if n > budget {
			break
		}
		budget -= n
		out[key] = value
	}
	if len(out) == 0 {
		return nil, budget
	}
	return out, budget
}

// cutEncoded cuts s to at most n bytes, and further until its JSON encoding takes at most
// encoded bytes, on a UTF-8 boundary.
func cutEncoded(s string, n, encoded int) string {
	s = text.Cut(s, n)
	for text.JSONLen(s) > encoded {
		s = text.Cut(s, len(s)*encoded/text.JSONLen(s))
	}
	return s
}

func seconds(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Second)
}

// nextAttempt is when a pending record is tried again; followed tasks' polls are not shown.
func nextAttempt(r delivery.Record) time.Time {
	if r.State != delivery.Pending {
		return time.Time{}
	}
	return seconds(r.NextAt)
}

func snapshotSize(s *ports.EventSnapshot) int {
	const snapshotFields = 300
	n := snapshotFields + text.JSONLen(s.ResourceKind) + text.JSONLen(s.Reason) + text.JSONLen(s.Message) + text.JSONLen(s.Source) + text.JSONLen(s.SourceType) +
		text.JSONLen(s.Severity) + text.JSONLen(s.Description) + text.JSONLen(s.WorkloadKind) + text.JSONLen(s.WorkloadName) + text.JSONLen(s.Node)
	for k, v := range s.Metadata {
		n += text.JSONLen(k) + text.JSONLen(v) + 2
	}
	for k, v := range s.Tags {
		n += text.JSONLen(k) + text.JSONLen(v) + 2
	}
	for k, v := range s.Labels {
		n += text.JSONLen(k) + text.JSONLen(v) + 2
	}
	return n
}
