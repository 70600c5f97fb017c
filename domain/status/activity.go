package status

import (
	"sort"
	"time"
	"unicode/utf8"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/delivery"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// Limits keep a Hook's status well within the API server's object size limit (about 1.5 MiB),
// whatever a storm throws at it. Sizes are measured as the API server receives them: JSON, where
// '<', '>', '&' and control characters take six bytes each.
type Limits struct {
	// MaxEvents: entries beyond it are left out (and counted), the least interesting first.
	MaxEvents int
	// MaxBytes bounds the encoded size of the entries: beyond it, the kept events of the least
	// interesting entries are dropped, then the entries themselves (see Activity).
	MaxBytes int
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits { return l.withDefaults() }

// Defaults for Limits and for what one entry keeps of its event.
const (
	DefaultMaxEvents = 200
	DefaultMaxBytes  = 512 * 1024
	// MaxKeptMessage is how much of an event's message a status entry keeps: the prompt
	// renderer's limit for one value.
	MaxKeptMessage = 4096
	// MaxKeptLabels and MaxKeptLabelValue bound the metadata and tags an entry keeps.
	MaxKeptLabels     = 64
	MaxKeptLabelValue = 512
	// MaxKeptEventBytes bounds the encoded size of the event an entry keeps: metadata and tags
	// beyond it are left out (by name), so that even the smallest cap a too-large refusal halves
	// a status to (10 entries) fits.
	MaxKeptEventBytes = 24 * 1024
	// MaxDeliveryTextBytes bounds the encoded size of a delivery's summary and of its error.
	MaxDeliveryTextBytes = 1024
)

func (l Limits) withDefaults() Limits {
	if l.MaxEvents <= 0 {
		l.MaxEvents = DefaultMaxEvents
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	return l
}

// Activity returns what a Hook's status shows of its entries and their ledger, within limits.
// Firing entries with a delivery being sent or at work come first, then those with a delivery
// pending, then other firing entries, then resolved ones, the most recently seen first within
// each; what does not fit is counted in Omitted. The first group is always shown within
// MaxEvents: a send waiting for its intent goes only once a write holds it, and a task at work is
// followed after a restart only if the write kept it; the lanes bound that group (a few sends
// and investigations per agent).
//
// Within MaxBytes, measured encoded: the kept events of entries without a delivery under way or
// pending go first, the least interesting first; then such entries themselves; then the events
// of entries whose deliveries wait (a delivery restored without its event waits for the event's
// next sight rather than render a prompt without it), then such entries; and last, only if what
// is under way alone is larger than twice MaxBytes (still within the API server's limit), entries
// under way, so that the status stays writable whatever happens. The result is ordered by key so
// that unchanged state writes nothing.
func Activity(entries []dedup.Entry, records []delivery.Record, limits Limits) ports.HookActivity {
	limits = limits.withDefaults()
	byKey := map[event.Key][]delivery.Record{}
	for _, r := range records {
		byKey[r.Key] = append(byKey[r.Key], r)
	}
	events := make([]ports.ActiveEvent, 0, len(entries))
	for _, e := range entries {
		events = append(events, activeEvent(e, byKey[e.Key]))
	}
	sort.SliceStable(events, func(i, j int) bool { return moreInteresting(events[i], events[j]) })
	underWay, waiting := 0, 0 // sorted first
	for underWay < len(events) && rank(events[underWay]) == rankUnderWay {
		underWay++
	}
	for waiting = underWay; waiting < len(events) && rank(events[waiting]) == rankPending; waiting++ {
	}
	omitted := 0
	if n := max(limits.MaxEvents, underWay); len(events) > n {
		omitted = len(events) - n
		events = events[:n]
		waiting = min(waiting, n)
	}
	size := 0
	for i := range events {
		size += EncodedSize(events[i])
	}
	dropEvent := func(i int) {
		if events[i].Event != nil {
			size -= EncodedSize(events[i])
			events[i].Event = nil
			size += EncodedSize(events[i])
		}
	}
	for i := len(events) - 1; i >= waiting && size > limits.MaxBytes; i-- {
		dropEvent(i)
	}
	for size > limits.MaxBytes && len(events) > waiting {
		size -= EncodedSize(events[len(events)-1])
		events = events[:len(events)-1]
		omitted++
	}
	for i := len(events) - 1; i >= 0 && size > limits.MaxBytes; i-- {
		dropEvent(i)
	}
	for size > limits.MaxBytes && len(events) > underWay {
		size -= EncodedSize(events[len(events)-1])
		events = events[:len(events)-1]
		omitted++
	}
	for size > 2*limits.MaxBytes && len(events) > 0 {
		size -= EncodedSize(events[len(events)-1])
		events = events[:len(events)-1]
		omitted++
	}
	sort.Slice(events, func(i, j int) bool { return lessKey(events[i], events[j]) })
	return ports.HookActivity{Events: events, Omitted: omitted}
}

// Kept reports which keys an activity shows (what was written to status).
func Kept(a ports.HookActivity) map[event.Key]bool {
	kept := make(map[event.Key]bool, len(a.Events))
	for _, e := range a.Events {
		kept[keyOf(e)] = true
	}
	return kept
}

func activeEvent(e dedup.Entry, records []delivery.Record) ports.ActiveEvent {
	a := ports.ActiveEvent{
		EventType:    string(e.Key.Type),
		Namespace:    e.Key.Namespace,
		ResourceName: e.Key.ResourceName,
		Fingerprint:  e.Key.Fingerprint,
		FirstSeen:    seconds(e.FirstSeen),
		LastSeen:     seconds(e.LastSeen),
		Status:       string(e.State),
		Occurrences:  e.Occurrences,
	}
	switch {
	case e.State == dedup.Resolved:
		a.ResolvedReason, a.ResolvedAt = string(e.Resolution), seconds(e.ResolvedAt)
	case !e.Partial: // a partial event is not written as if it were whole: it stays partial
		a.Event = snapshotOf(e.LastEvent)
	}
	allAccepted := len(records) > 0
	for _, r := range records {
		a.Deliveries = append(a.Deliveries, ports.Delivery{
			Agent: r.Agent.String(), MessageID: r.MessageID, ContextID: r.ContextID, TaskID: r.TaskID,
			State: string(r.State), Summary: cutEncoded(r.Summary, ports.MaxSummaryLength, MaxDeliveryTextBytes),
			LastError: cutEncoded(r.LastError, maxLastError, MaxDeliveryTextBytes), Cause: string(r.Cause),
			Attempts: r.Attempts, Reruns: r.Reruns, SentAt: seconds(r.SentAt), UpdatedAt: seconds(r.UpdatedAt), NextAttemptAt: nextAttempt(r),
		})
		if !r.State.Accepted() {
			allAccepted = false
		}
		if sent := seconds(r.SentAt); sent.After(a.LastNotifiedAt) {
			a.LastNotifiedAt = sent
		}
	}
	if allAccepted {
		a.NotifiedAt = a.LastNotifiedAt
	}
	return a
}

// maxLastError bounds the error text a delivery keeps.
const maxLastError = 512

// nextAttempt is when a pending record is tried again; followed tasks' polls are not shown.
func nextAttempt(r delivery.Record) time.Time {
	if r.State != delivery.Pending {
		return time.Time{}
	}
	return seconds(r.NextAt)
}

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
	budget := MaxKeptEventBytes - snapshotSize(s)
	s.Metadata, budget = bounded(e.Metadata, budget)
	s.Tags, _ = bounded(e.Tags, budget)
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

// moreInteresting orders entries for the cap: deliveries being sent or at work, then pending,
// then other firing entries, then resolved; the most recently seen first.
func moreInteresting(a, b ports.ActiveEvent) bool {
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra < rb
	}
	if !a.LastSeen.Equal(b.LastSeen) {
		return a.LastSeen.After(b.LastSeen)
	}
	return lessKey(a, b)
}

// Ranks of entries for the cap, most interesting first.
const (
	rankUnderWay = iota // a delivery is being sent (or waits for its intent) or its task is at work: always kept
	rankPending         // a delivery waits for its turn or its next attempt
	rankFiring
	rankResolved
)

func rank(a ports.ActiveEvent) int {
	r := rankFiring
	for _, d := range a.Deliveries {
		switch delivery.State(d.State) {
		case delivery.Sending, delivery.Submitted, delivery.Working: // also on a resolved entry: its task is followed to its end
			return rankUnderWay
		case delivery.Pending:
			r = rankPending
		}
	}
	if a.Status != string(dedup.Firing) {
		return rankResolved
	}
	return r
}

// EncodedSize is the size of an entry as the API server receives it, JSON-encoded (an upper
// bound: field names and times are counted at their longest).
func EncodedSize(a ports.ActiveEvent) int {
	const entryFields = 420 // names, quotes and punctuation of every field, and its five times
	n := entryFields + jsonLen(a.EventType) + jsonLen(a.Namespace) + jsonLen(a.ResourceName) + jsonLen(a.Fingerprint) + jsonLen(a.ResolvedReason)
	if a.Event != nil {
		n += snapshotSize(a.Event)
	}
	for _, d := range a.Deliveries {
		const deliveryFields = 330
		n += deliveryFields + jsonLen(d.Agent) + jsonLen(d.MessageID) + jsonLen(d.ContextID) + jsonLen(d.TaskID) + jsonLen(d.State) +
			jsonLen(d.Summary) + jsonLen(d.LastError) + jsonLen(d.Cause)
	}
	return n
}

func snapshotSize(s *ports.EventSnapshot) int {
	const snapshotFields = 230
	n := snapshotFields + jsonLen(s.ResourceKind) + jsonLen(s.Reason) + jsonLen(s.Message) + jsonLen(s.Source) + jsonLen(s.SourceType) +
		jsonLen(s.Severity) + jsonLen(s.Description)
	for k, v := range s.Metadata {
		n += jsonLen(k) + jsonLen(v) + 2
	}
	for k, v := range s.Tags {
		n += jsonLen(k) + jsonLen(v) + 2
	}
	return n
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

// Restored is what a Hook's status gives back after a restart.
type Restored struct {
	Entries []dedup.Entry
	Records []delivery.Record
	// ToldBeforeLedger lists firing keys whose status says every agent was told, written before
	// khook kept a ledger: their agents are not told again.
	ToldBeforeLedger []event.Key
}

// Restore reads a Hook's status entries back into dedup entries and ledger records. Entries with
// an unknown status and deliveries naming no agent are skipped.
func Restore(ref hook.Ref, active []ports.ActiveEvent) Restored {
	var out Restored
	for _, a := range active {
		state := dedup.State(a.Status)
		if state != dedup.Firing && state != dedup.Resolved {
			continue
		}
		key := keyOf(a)
		e := dedup.Entry{Hook: ref, Key: key, State: state, FirstSeen: a.FirstSeen, LastSeen: a.LastSeen,
			Occurrences: max(a.Occurrences, 1), Resolution: event.Resolution(a.ResolvedReason)}
		if state == dedup.Resolved {
			e.ResolvedAt = a.ResolvedAt
			if e.ResolvedAt.IsZero() {
				e.ResolvedAt = a.LastSeen
			}
		}
		if s := a.Event; s != nil {
			e.LastEvent = event.Event{Type: key.Type, Namespace: key.Namespace, ResourceName: key.ResourceName, Fingerprint: key.Fingerprint,
				ResourceKind: s.ResourceKind, Reason: s.Reason, Message: s.Message, Timestamp: s.Timestamp, Source: s.Source,
				SourceType: s.SourceType, Severity: s.Severity, Description: s.Description, Metadata: s.Metadata, Tags: s.Tags}
		}
		e.Partial = a.Event == nil && state == dedup.Firing
		out.Entries = append(out.Entries, e)
		if state == dedup.Firing && len(a.Deliveries) == 0 && !a.NotifiedAt.IsZero() {
			out.ToldBeforeLedger = append(out.ToldBeforeLedger, key)
		}
		firing := delivery.Firing{Hook: ref, Key: key, FirstSeen: a.FirstSeen,
			Resource: ports.ResourceRef{Kind: e.LastEvent.ResourceKind, Namespace: key.Namespace, Name: key.ResourceName}}
		for _, d := range a.Deliveries {
			agent, err := hook.ParseAgentID(d.Agent, "")
			if err != nil {
				continue
			}
			state := delivery.State(d.State)
			cause, lastError := delivery.Cause(d.Cause), d.LastError
			if cause == "" {
				cause, lastError = delivery.CauseOf(state, lastError) // written by the previous release
			}
			out.Records = append(out.Records, delivery.Record{Firing: firing, Agent: agent, MessageID: d.MessageID, ContextID: d.ContextID,
				TaskID: d.TaskID, State: state, Summary: d.Summary, LastError: lastError, Cause: cause, Attempts: d.Attempts, Reruns: d.Reruns,
				SentAt: d.SentAt, UpdatedAt: d.UpdatedAt, NextAt: d.NextAttemptAt})
		}
	}
	return out
}

func seconds(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Second)
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
