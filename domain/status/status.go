package status

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/khook-dev/khook/domain/dedup"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// Condition types and reasons.
const (
	ConditionAccepted = "Accepted"

	ReasonAccepted         = "Accepted"
	ReasonTemplateRefused  = "TemplateRefused"
	ReasonUnknownEventType = "UnknownEventType"
	ReasonInvalidAgent     = "InvalidAgent"
)

// ActiveEvents returns the status entries for a hook's dedup entries, ordered by event type,
// namespace and resource name.
func ActiveEvents(entries []dedup.Entry) []ports.ActiveEvent {
	out := make([]ports.ActiveEvent, 0, len(entries))
	for _, e := range entries {
		out = append(out, ports.ActiveEvent{
			EventType:      string(e.Key.Type),
			Namespace:      e.Key.Namespace,
			ResourceName:   e.Key.ResourceName,
			FirstSeen:      seconds(e.FirstSeen),
			LastSeen:       seconds(e.LastSeen),
			Status:         string(e.State),
			NotifiedAt:     seconds(e.NotifiedAt),
			LastNotifiedAt: seconds(e.LastNotifiedAt),
		})
	}
	sort.Slice(out, func(i, j int) bool { return lessActive(out[i], out[j]) })
	return out
}

// Entries reads status entries back into dedup entries for hook ref, for dedup.Store.Restore.
// Entries with an unknown status are skipped.
func Entries(ref hook.Ref, active []ports.ActiveEvent) []dedup.Entry {
	out := make([]dedup.Entry, 0, len(active))
	for _, a := range active {
		state := dedup.State(a.Status)
		if state != dedup.Firing && state != dedup.Resolved {
			continue
		}
		out = append(out, dedup.Entry{
			Hook:           ref,
			Key:            event.Key{Type: event.Type(a.EventType), Namespace: a.Namespace, ResourceName: a.ResourceName},
			State:          state,
			FirstSeen:      a.FirstSeen,
			LastSeen:       a.LastSeen,
			NotifiedAt:     a.NotifiedAt,
			LastNotifiedAt: a.LastNotifiedAt,
			LastAttempt:    a.LastSeen,
		})
	}
	return out
}

// EqualActiveEvents reports whether a and b hold the same entries in the same order.
func EqualActiveEvents(a, b []ports.ActiveEvent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.EventType != y.EventType || x.Namespace != y.Namespace || x.ResourceName != y.ResourceName ||
			x.Status != y.Status || !x.FirstSeen.Equal(y.FirstSeen) || !x.LastSeen.Equal(y.LastSeen) ||
			!x.NotifiedAt.Equal(y.NotifiedAt) || !x.LastNotifiedAt.Equal(y.LastNotifiedAt) {
			return false
		}
	}
	return true
}

// Problem is one reason a Hook's configuration is not used.
type Problem struct {
	Reason  string // one of the Reason constants
	Field   string // e.g. spec.eventConfigurations[1].prompt
	Message string
}

func (p Problem) String() string { return fmt.Sprintf("%s: %s", p.Field, p.Message) }

// Accepted returns the Accepted condition for a hook with the given problems: true when there
// are none; otherwise false, with the first problem's reason and every problem in the message.
func Accepted(problems []Problem) ports.Condition {
	if len(problems) == 0 {
		return ports.Condition{Type: ConditionAccepted, Status: true, Reason: ReasonAccepted, Message: "all event configurations are in use"}
	}
	msgs := make([]string, len(problems))
	for i, p := range problems {
		msgs[i] = p.String()
	}
	return ports.Condition{Type: ConditionAccepted, Status: false, Reason: problems[0].Reason, Message: strings.Join(msgs, "; ")}
}

func seconds(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Second)
}

func lessActive(a, b ports.ActiveEvent) bool {
	if a.EventType != b.EventType {
		return a.EventType < b.EventType
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.ResourceName < b.ResourceName
}
