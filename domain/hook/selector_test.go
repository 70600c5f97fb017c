package hook_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/khook-dev/khook/domain/hook"
)

func TestSelectorMatchesAsKubernetesDoes(t *testing.T) {
	pod := map[string]string{"app": "web", "tier": "critical", "env": "prod"}
	tests := []struct {
		name     string
		selector hook.Selector
		labels   map[string]string
		want     bool
	}{
		{"an empty selector matches a resource with labels", hook.Selector{}, pod, true},
		{"an empty selector matches a resource without labels", hook.Selector{}, nil, true},
		{"matchLabels match when every pair is there", hook.Selector{MatchLabels: map[string]string{"app": "web", "tier": "critical"}}, pod, true},
		{"matchLabels do not match when one value differs", hook.Selector{MatchLabels: map[string]string{"app": "web", "tier": "batch"}}, pod, false},
		{"matchLabels do not match when a key is missing", hook.Selector{MatchLabels: map[string]string{"team": "a"}}, pod, false},
		{"matchLabels with an empty value need the key with an empty value", hook.Selector{MatchLabels: map[string]string{"canary": ""}}, map[string]string{"canary": ""}, true},
		{"matchLabels with an empty value do not match a missing key", hook.Selector{MatchLabels: map[string]string{"canary": ""}}, pod, false},
		{"In matches one of the values", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "env", Operator: hook.In, Values: []string{"staging", "prod"}}}}, pod, true},
		{"In does not match another value", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "env", Operator: hook.In, Values: []string{"staging"}}}}, pod, false},
		{"In does not match a missing key", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "zone", Operator: hook.In, Values: []string{"a"}}}}, pod, false},
		{"NotIn matches a missing key", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "zone", Operator: hook.NotIn, Values: []string{"a"}}}}, pod, true},
		{"NotIn matches another value", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "env", Operator: hook.NotIn, Values: []string{"dev"}}}}, pod, true},
		{"NotIn does not match one of the values", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "env", Operator: hook.NotIn, Values: []string{"dev", "prod"}}}}, pod, false},
		{"Exists matches a key with any value", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "tier", Operator: hook.Exists}}}, pod, true},
		{"Exists does not match a missing key", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "zone", Operator: hook.Exists}}}, pod, false},
		{"DoesNotExist matches a missing key", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "zone", Operator: hook.DoesNotExist}}}, pod, true},
		{"DoesNotExist does not match a present key", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "app", Operator: hook.DoesNotExist}}}, pod, false},
		{"DoesNotExist matches a resource without labels", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "app", Operator: hook.DoesNotExist}}}, nil, true},
		{"every requirement must hold", hook.Selector{
			MatchLabels:      map[string]string{"app": "web"},
			MatchExpressions: []hook.Requirement{{Key: "tier", Operator: hook.In, Values: []string{"critical"}}, {Key: "env", Operator: hook.NotIn, Values: []string{"prod"}}},
		}, pod, false},
		{"an unknown operator matches nothing", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "app", Operator: "Equals", Values: []string{"web"}}}}, pod, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.selector.Matches(tt.labels); got != tt.want {
				t.Fatalf("Matches(%v) = %v, want %v", tt.labels, got, tt.want)
			}
		})
	}
}

func TestSelectorValidateNamesTheField(t *testing.T) {
	long := strings.Repeat("a", 64)
	tests := []struct {
		name     string
		selector hook.Selector
		want     string // the error's start; "" for valid
	}{
		{"an empty selector is valid", hook.Selector{}, ""},
		{"keys with a DNS prefix and values with dots are valid", hook.Selector{
			MatchLabels:      map[string]string{"app.kubernetes.io/name": "web.v1_2-x"},
			MatchExpressions: []hook.Requirement{{Key: "Tier", Operator: hook.In, Values: []string{"critical", ""}}, {Key: "example.com/zone", Operator: hook.DoesNotExist}},
		}, ""},
		{"an unknown operator is refused", hook.Selector{MatchExpressions: []hook.Requirement{
			{Key: "a", Operator: hook.Exists}, {Key: "b", Operator: "Equals", Values: []string{"x"}},
		}}, `matchExpressions[1].operator: "Equals" is not In, NotIn, Exists or DoesNotExist`},
		{"In without values is refused", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "a", Operator: hook.In}}}, "matchExpressions[0].values: "},
		{"NotIn without values is refused", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "a", Operator: hook.NotIn, Values: []string{}}}}, "matchExpressions[0].values: "},
		{"Exists with values is refused", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "a", Operator: hook.Exists, Values: []string{"x"}}}}, `matchExpressions[0].values: "x" must be empty for operator Exists`},
		{"a key with two slashes is refused", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "a/b/c", Operator: hook.Exists}}}, `matchExpressions[0].key: "a/b/c" is not a label key`},
		{"a key with an empty prefix is refused", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "/c", Operator: hook.Exists}}}, `matchExpressions[0].key: "/c"`},
		{"a key with an upper-case prefix is refused", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "Example.com/c", Operator: hook.Exists}}}, `matchExpressions[0].key: "Example.com/c" is not a label key: its prefix`},
		{"a key whose name is longer than 63 characters is refused", hook.Selector{MatchExpressions: []hook.Requirement{{Key: long, Operator: hook.Exists}}}, "matchExpressions[0].key: "},
		{"an empty key is refused", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "", Operator: hook.Exists}}}, `matchExpressions[0].key: "" is not a label key: the name is empty`},
		{"a key ending in a dash is refused", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "app-", Operator: hook.Exists}}}, `matchExpressions[0].key: "app-"`},
		{"a value longer than 63 characters is refused", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "a", Operator: hook.In, Values: []string{"ok", long}}}}, "matchExpressions[0].values[1]: "},
		{"a value with a space is refused", hook.Selector{MatchExpressions: []hook.Requirement{{Key: "a", Operator: hook.In, Values: []string{"a b"}}}}, `matchExpressions[0].values[0]: "a b" is not a label value`},
		{"a matchLabels key is checked", hook.Selector{MatchLabels: map[string]string{"bad key": "x"}}, `matchLabels[bad key]: "bad key" is not a label key`},
		{"a matchLabels value is checked", hook.Selector{MatchLabels: map[string]string{"tier": "-x"}}, `matchLabels[tier]: "-x" is not a label value`},
		{"the smallest bad matchLabels key is named", hook.Selector{MatchLabels: map[string]string{"z z": "", "b b": "", "a": "ok", "c c": ""}}, `matchLabels[b b]:`},
		{"matchLabels are named before matchExpressions", hook.Selector{
			MatchLabels: map[string]string{"x": "-"}, MatchExpressions: []hook.Requirement{{Key: "a", Operator: "?"}},
		}, "matchLabels[x]:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.selector.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error starting %q", err, tt.want)
			}
			var invalid *hook.InvalidSelectorError
			if !errors.As(err, &invalid) || !errors.Is(err, hook.ErrInvalidSelector) {
				t.Fatalf("Validate() = %#v, want an *InvalidSelectorError that is ErrInvalidSelector", err)
			}
		})
	}
}

func TestSelectorMatchesAllocatesNothing(t *testing.T) {
	s := hook.Selector{
		MatchLabels: map[string]string{"app": "web", "env": "prod"},
		MatchExpressions: []hook.Requirement{
			{Key: "tier", Operator: hook.In, Values: []string{"batch", "critical"}},
			{Key: "zone", Operator: hook.NotIn, Values: []string{"a"}},
			{Key: "team", Operator: hook.Exists},
			{Key: "legacy", Operator: hook.DoesNotExist},
		},
	}
	labels := map[string]string{"app": "web", "env": "prod", "tier": "critical", "team": "a"}
	if !s.Matches(labels) {
		t.Fatal("the selector should match")
	}
	if allocs := testing.AllocsPerRun(1000, func() { s.Matches(labels) }); allocs != 0 {
		t.Fatalf("Matches allocates %v times a call, want 0", allocs)
	}
}

func BenchmarkSelectorMatches(b *testing.B) {
	s := hook.Selector{
		MatchLabels:      map[string]string{"app": "web"},
		MatchExpressions: []hook.Requirement{{Key: "tier", Operator: hook.In, Values: []string{"batch", "critical"}}, {Key: "legacy", Operator: hook.DoesNotExist}},
	}
	labels := map[string]string{"app": "web", "env": "prod", "tier": "critical", "pod-template-hash": "5d8f7c9b6"}
	b.ReportAllocs()
	for b.Loop() {
		s.Matches(labels)
	}
}
