package volume_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/volume"
)

func TestASilenceIsActiveFromItsStartUntilItsEnd(t *testing.T) {
	s := silence()
	tests := []struct {
		name string
		at   time.Time
		want bool
	}{
		{"before its start it is pending", t0.Add(-time.Nanosecond), false},
		{"at its start it is active", t0, true},
		{"during its window it is active", t0.Add(2 * time.Hour), true},
		{"a moment before its end it is active", t0.Add(4*time.Hour - time.Nanosecond), true},
		{"at its end it has ended", t0.Add(4 * time.Hour), false},
		{"after its end it has ended", t0.Add(5 * time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.Active(tt.at); got != tt.want {
				t.Fatalf("Active(%s) = %v, want %v", tt.at, got, tt.want)
			}
		})
	}
}

func TestASilenceMutesTheCandidatesEveryMatcherMatches(t *testing.T) {
	during := t0.Add(time.Hour)
	tests := []struct {
		name     string
		matchers volume.Matchers
		c        volume.Candidate
		at       time.Time
		want     bool
	}{
		{"no matchers mute every candidate", volume.Matchers{}, candidate(), during, true},
		{"no matchers mute nothing before the start", volume.Matchers{}, candidate(), t0.Add(-time.Minute), false},
		{"no matchers mute nothing after the end", volume.Matchers{}, candidate(), t0.Add(5 * time.Hour), false},
		{"an event type glob mutes its types", volume.Matchers{EventType: "pod-*"}, candidate(), during, true},
		{"an event type glob spares other types", volume.Matchers{EventType: "pod-*"}, candidate(ofType("oom-kill")), during, false},
		{"a hook glob matches the Hook's name", volume.Matchers{Hook: "*-pods"}, candidate(), during, true},
		{"a hook glob spares other Hooks", volume.Matchers{Hook: "staging-*"}, candidate(), during, false},
		{"a hook glob does not see the Hook's namespace", volume.Matchers{Hook: "apps/*"}, candidate(), during, false},
		{"a subject kind matches regardless of case", volume.Matchers{SubjectKind: "deployment"}, candidate(), during, true},
		{"a subject kind spares other kinds", volume.Matchers{SubjectKind: "StatefulSet"}, candidate(), during, false},
		{"a subject name glob mutes its subjects", volume.Matchers{SubjectName: "check*"}, candidate(), during, true},
		{"a subject name glob matches case exactly", volume.Matchers{SubjectName: "Check*"}, candidate(), during, false},
		{"a selector mutes the resources it matches", volume.Matchers{Selector: hook.Selector{MatchLabels: map[string]string{"tier": "critical"}}}, candidate(), during, true},
		{"a selector spares the resources it does not match", volume.Matchers{Selector: hook.Selector{MatchLabels: map[string]string{"tier": "critical"}}},
			candidate(labelled(map[string]string{"tier": "batch"})), during, false},
		{"a selector spares a resource without labels", volume.Matchers{Selector: hook.Selector{MatchLabels: map[string]string{"tier": "critical"}}},
			candidate(labelled(nil)), during, false},
		{"every matcher must match", volume.Matchers{EventType: "pod-restart", SubjectKind: "Deployment", SubjectName: "payments"}, candidate(), during, false},
		{"every matcher matching mutes", volume.Matchers{EventType: "pod-restart", Hook: "prod-pods", SubjectKind: "Deployment", SubjectName: "checkout",
			Selector: hook.Selector{MatchExpressions: []hook.Requirement{{Key: "app", Operator: hook.Exists}}}}, candidate(), during, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := silence(matching(tt.matchers)).Mutes(tt.c, tt.at); got != tt.want {
				t.Fatalf("Mutes = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestASilenceIsValidatedNamingTheField(t *testing.T) {
	tests := []struct {
		name   string
		s      volume.Silence
		expect string // the error's start; "" for valid
	}{
		{"a maintenance window is valid", silence(), ""},
		{"a window of exactly 30 days is valid", silence(during(t0, t0.Add(volume.MaxSilenceDuration))), ""},
		{"no name is refused", silence(in("apps", "")), "metadata: "},
		{"no start is refused", silence(during(time.Time{}, t0)), "startsAt: is required"},
		{"an end before the start is refused", silence(during(t0, t0.Add(-time.Second))), "endsAt: must be after startsAt"},
		{"an end equal to the start is refused", silence(during(t0, t0)), "endsAt: must be after startsAt"},
		{"an end more than 30 days after the start is refused", silence(during(t0, t0.Add(volume.MaxSilenceDuration+time.Second))), "endsAt: must be at most 720h0m0s after startsAt"},
		{"an event type glob longer than 63 characters is refused", silence(matching(volume.Matchers{EventType: strings.Repeat("e", 64)})), "matchers.eventType: "},
		{"a hook glob longer than 253 characters is refused", silence(matching(volume.Matchers{Hook: strings.Repeat("h", 254)})), "matchers.hook: "},
		{"a subject kind longer than 63 characters is refused", silence(matching(volume.Matchers{SubjectKind: strings.Repeat("k", 64)})), "matchers.subjectKind: "},
		{"a subject name longer than 253 characters is refused", silence(matching(volume.Matchers{SubjectName: strings.Repeat("n", 254)})), "matchers.subjectName: "},
		{"a comment longer than 256 characters is refused", silence(func(s *volume.Silence) { s.Comment = strings.Repeat("c", 257) }), "comment: "},
		{"a selector Kubernetes would refuse is refused naming its field", silence(matching(volume.Matchers{Selector: hook.Selector{
			MatchExpressions: []hook.Requirement{{Key: "tier", Operator: "Gt", Values: []string{"1"}}},
		}})), `matchers.selector.matchExpressions[0].operator: "Gt" is not In, NotIn, Exists or DoesNotExist`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if tt.expect == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.expect) || !errors.Is(err, volume.ErrInvalidSilence) {
				t.Fatalf("Validate() = %v, want an ErrInvalidSilence starting %q", err, tt.expect)
			}
		})
	}
}
