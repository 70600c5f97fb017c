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
// whatever a storm throws at it. Entries whose deliveries are being sent or at work are never
// left out (see Activity); there are at most a few per agent the Hook names.
type Limits struct {
	// MaxEvents: entries beyond it are left out (and counted), the least interesting first.
	MaxEvents int
	// MaxBytes bounds the estimated size of the entries: beyond it, the kept events of the
	// least interesting entries are dropped, then the entries themselves.
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
// each; what does not fit is counted in Omitted. The first group is always shown, whatever the
// limits (beyond the byte budget it loses its kept events, not its entries): a send waiting for
// its intent goes only once a write holds it, and a task at work is followed after a restart only
// if the write kept it. The lanes bound that group: a few sends and investigations per agent.
// The result is ordered by key so that unchanged state writes nothing.
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
	underWay := 0 // sorted first
	for underWay < len(events) && rank(events[underWay]) == rankUnderWay {
		underWay++
	}
	omitted := 0
	if n := max(limits.MaxEvents, underWay); len(events) > n {
		omitted = len(events) - n
		events = events[:n]
	}
	size := 0
	for i := range events {
		size += estimate(events[i])
	}
	for i := len(events) - 1; i >= 0 && size > limits.MaxBytes; i-- {
		if events[i].Event != nil {
			size -= estimate(events[i])
			events[i].Event = nil
			size += estimate(events[i])
		}
	}
	for size > limits.MaxBytes && len(events) > underWay {
		size -= estimate(events[len(events)-1])
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
	if e.State == dedup.Resolved {
		a.ResolvedReason, a.ResolvedAt = string(e.Resolution), seconds(e.ResolvedAt)
	} else {
		a.Event = snapshotOf(e.LastEvent)
	}
	allAccepted := len(records) > 0
	for _, r := range records {
		a.Deliveries = append(a.Deliveries, ports.Delivery{
			Agent: r.Agent.String(), MessageID: r.MessageID, ContextID: r.ContextID, TaskID: r.TaskID,
			State: string(r.State), Summary: cut(r.Summary, ports.MaxSummaryLength), LastError: cut(r.LastError, maxLastError),
			Attempts: r.Attempts, SentAt: seconds(r.SentAt), UpdatedAt: seconds(r.UpdatedAt), NextAttemptAt: nextAttempt(r),
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

func snapshotOf(e event.Event) *ports.EventSnapshot {
	return &ports.EventSnapshot{
		ResourceKind: e.ResourceKind,
		Reason:       cut(e.Reason, MaxKeptLabelValue),
		Message:      cut(e.Message, MaxKeptMessage),
		Timestamp:    seconds(e.Timestamp),
		Source:       e.Source,
		SourceType:   cut(e.SourceType, MaxKeptLabelValue),
		Severity:     cut(e.Severity, MaxKeptLabelValue),
		Description:  cut(e.Description, MaxKeptLabelValue),
		Metadata:     bounded(e.Metadata),
		Tags:         bounded(e.Tags),
	}
}

// bounded keeps at most MaxKeptLabels entries of m (the first by name), values cut.
func bounded(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > MaxKeptLabels {
		keys = keys[:MaxKeptLabels]
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		out[cut(k, MaxKeptLabelValue)] = cut(m[k], MaxKeptLabelValue)
	}
	return out
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

// estimate is roughly the JSON size of an entry.
func estimate(a ports.ActiveEvent) int {
	n := 220 + len(a.EventType) + len(a.Namespace) + len(a.ResourceName) + len(a.Fingerprint) + len(a.ResolvedReason)
	if s := a.Event; s != nil {
		n += 200 + len(s.ResourceKind) + len(s.Reason) + len(s.Message) + len(s.Source) + len(s.SourceType) + len(s.Severity) + len(s.Description)
		for k, v := range s.Metadata {
			n += 6 + len(k) + len(v)
		}
		for k, v := range s.Tags {
			n += 6 + len(k) + len(v)
		}
	}
	for _, d := range a.Deliveries {
		n += 260 + len(d.Agent) + len(d.MessageID) + len(d.ContextID) + len(d.TaskID) + len(d.State) + len(d.Summary) + len(d.LastError)
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
			out.Records = append(out.Records, delivery.Record{Firing: firing, Agent: agent, MessageID: d.MessageID, ContextID: d.ContextID,
				TaskID: d.TaskID, State: delivery.State(d.State), Summary: d.Summary, LastError: d.LastError, Attempts: d.Attempts,
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
