package investigation

import (
	"sort"
	"time"
	"unicode/utf8"

	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
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
		ResourceKind: cut(e.ResourceKind, MaxKeptLabelValue),
		Reason:       cut(e.Reason, MaxKeptLabelValue),
		Message:      cutEncoded(e.Message, MaxKeptMessage, MaxKeptEventBytes/2),
		Timestamp:    seconds(e.Timestamp),
		Source:       cut(e.Source, MaxKeptLabelValue),
		SourceType:   cut(e.SourceType, MaxKeptLabelValue),
		Severity:     cut(e.Severity, MaxKeptLabelValue),
		Description:  cut(e.Description, MaxKeptLabelValue),
	}
	if len(e.Workload.Name) <= event.MaxResourceNameLength && len(e.Node) <= event.MaxResourceNameLength {
		s.WorkloadKind, s.WorkloadName, s.Node = cut(e.Workload.Kind, MaxKeptLabelValue), e.Workload.Name, e.Node
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
		key, value := cut(k, MaxKeptLabelValue), cut(m[k], MaxKeptLabelValue)
		n := jsonLen(key) + jsonLen(value) + 2
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
	s = cut(s, n)
	for jsonLen(s) > encoded {
		s = cut(s, len(s)*encoded/jsonLen(s))
	}
	return s
}

// jsonLen is the length of s as encoding/json writes it, quotes included: '"' and '\\' and
// the control characters \b \f \n \r \t take two bytes; '<', '>', '&', other control
// characters, U+2028, U+2029 and each byte of invalid UTF-8 take six.
func jsonLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// cut shortens s to at most n bytes on a UTF-8 boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
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
	n := snapshotFields + jsonLen(s.ResourceKind) + jsonLen(s.Reason) + jsonLen(s.Message) + jsonLen(s.Source) + jsonLen(s.SourceType) +
		jsonLen(s.Severity) + jsonLen(s.Description) + jsonLen(s.WorkloadKind) + jsonLen(s.WorkloadName) + jsonLen(s.Node)
	for k, v := range s.Metadata {
		n += jsonLen(k) + jsonLen(v) + 2
	}
	for k, v := range s.Tags {
		n += jsonLen(k) + jsonLen(v) + 2
	}
	for k, v := range s.Labels {
		n += jsonLen(k) + jsonLen(v) + 2
	}
	return n
}
