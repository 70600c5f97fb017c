package volume

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/khook-dev/khook/domain/hook"
)

// Bounds of a Silence, the same as the Silence resource's.
const (
	MaxGlobLength        = 253 // hook and subjectName; eventType and subjectKind are at most 63
	MaxShortGlobLength   = 63
	MaxCommentLength     = 256
	MaxSilenceDuration   = 30 * 24 * time.Hour
	maxSilenceNameLength = 253
)

// Matchers say which candidates a Silence holds. Each glob's '*' matches any run of characters;
// an empty glob matches anything, and so does the zero Selector. Every matcher must match.
type Matchers struct {
	EventType string // a glob on the event type
	Hook      string // a glob on the Hook's name (the Silence's namespace scopes it)
	// SubjectKind is a glob on the subject's kind, whose letters match regardless of case
	// ("deployment" matches Deployment).
	SubjectKind string
	SubjectName string // a glob on the subject's name
	Selector    hook.Selector
}

// Matches says whether c satisfies every matcher. It allocates nothing.
func (m *Matchers) Matches(c *Candidate) bool {
	return globMatch(m.EventType, string(c.EventType), false) &&
		globMatch(m.Hook, c.Hook.Name, false) &&
		globMatch(m.SubjectKind, c.Subject.Kind, true) &&
		globMatch(m.SubjectName, c.Subject.Name, false) &&
		m.Selector.Matches(c.Labels)
}

// Silence keeps the candidates it matches from starting investigations from StartsAt until
// EndsAt. Which Hooks it may hold is decided by Silences, from its Namespace.
type Silence struct {
	Namespace string
	Name      string
	UID       string
	Matchers  Matchers
	StartsAt  time.Time
	EndsAt    time.Time
	Comment   string
}

func (s Silence) String() string { return s.Namespace + "/" + s.Name }

// Active says whether s holds candidates at now: from StartsAt (included) until EndsAt
// (excluded).
func (s Silence) Active(now time.Time) bool { return s.active(now) }

func (s *Silence) active(now time.Time) bool { return !now.Before(s.StartsAt) && now.Before(s.EndsAt) }

// Mutes says whether s holds c at now: it is active and every matcher matches. It does not look
// at namespaces: which Hooks a Silence may hold is Silences' rule (Muting).
func (s Silence) Mutes(c Candidate, now time.Time) bool { return s.mutes(&c, now) }

func (s *Silence) mutes(c *Candidate, now time.Time) bool {
	return s.active(now) && s.Matchers.Matches(c)
}

// ErrInvalidSilence is what every InvalidSilenceError is (errors.Is).
var ErrInvalidSilence = errors.New("invalid silence")

// InvalidSilenceError says which field of a Silence's spec cannot be used, and why. Field is
// the path below spec, e.g. "endsAt" or "matchers.selector.matchExpressions[0].operator".
type InvalidSilenceError struct {
	Field string
	Why   string
}

func (e *InvalidSilenceError) Error() string { return e.Field + ": " + e.Why }

// Is makes errors.Is(err, ErrInvalidSilence) hold.
func (e *InvalidSilenceError) Is(target error) bool { return target == ErrInvalidSilence }

// Validate says whether s can be held: a namespace and a name, an end after its start and at
// most MaxSilenceDuration later, matchers and comment within their bounds, a selector
// Kubernetes would accept. The Silence resource's schema refuses the same; this guards what
// reaches the domain another way. The error is an *InvalidSilenceError.
func (s Silence) Validate() error {
	switch {
	case s.Namespace == "" || s.Name == "" || len(s.Namespace) > maxSilenceNameLength || len(s.Name) > maxSilenceNameLength:
		return &InvalidSilenceError{Field: "metadata", Why: "a silence needs a namespace and a name of at most 253 characters"}
	case s.StartsAt.IsZero():
		return &InvalidSilenceError{Field: "startsAt", Why: "is required"}
	case !s.EndsAt.After(s.StartsAt):
		return &InvalidSilenceError{Field: "endsAt", Why: "must be after startsAt"}
	case s.EndsAt.Sub(s.StartsAt) > MaxSilenceDuration:
		return &InvalidSilenceError{Field: "endsAt", Why: fmt.Sprintf("must be at most %s after startsAt", MaxSilenceDuration)}
	case len(s.Matchers.EventType) > MaxShortGlobLength:
		return &InvalidSilenceError{Field: "matchers.eventType", Why: fmt.Sprintf("is longer than %d characters", MaxShortGlobLength)}
	case len(s.Matchers.Hook) > MaxGlobLength:
		return &InvalidSilenceError{Field: "matchers.hook", Why: fmt.Sprintf("is longer than %d characters", MaxGlobLength)}
	case len(s.Matchers.SubjectKind) > MaxShortGlobLength:
		return &InvalidSilenceError{Field: "matchers.subjectKind", Why: fmt.Sprintf("is longer than %d characters", MaxShortGlobLength)}
	case len(s.Matchers.SubjectName) > MaxGlobLength:
		return &InvalidSilenceError{Field: "matchers.subjectName", Why: fmt.Sprintf("is longer than %d characters", MaxGlobLength)}
	case len(s.Comment) > MaxCommentLength:
		return &InvalidSilenceError{Field: "comment", Why: fmt.Sprintf("is longer than %d characters", MaxCommentLength)}
	}
	if err := s.Matchers.Selector.Validate(); err != nil {
		var invalid *hook.InvalidSelectorError
		if errors.As(err, &invalid) {
			return &InvalidSilenceError{Field: "matchers.selector." + invalid.Field, Why: strings.TrimPrefix(invalid.Error(), invalid.Field+": ")}
		}
		return &InvalidSilenceError{Field: "matchers.selector", Why: err.Error()}
	}
	return nil
}
