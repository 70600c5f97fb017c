package kubernetes_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/khook-dev/khook/adapters/kubernetes"
	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/hook"
)

func TestToDomainCarriesEachConfigurationsSelector(t *testing.T) {
	tests := []struct {
		name     string
		selector *v1alpha2.LabelSelector
		want     hook.Selector
		wantErr  string // the start of the SelectorError; "" for none
	}{
		{"no selector is the zero selector, which matches everything", nil, hook.Selector{}, ""},
		{"an empty selector is the zero selector", &v1alpha2.LabelSelector{}, hook.Selector{}, ""},
		{"matchLabels and matchExpressions are carried over", &v1alpha2.LabelSelector{
			MatchLabels: map[string]v1alpha2.LabelValue{"tier": "critical"},
			MatchExpressions: []v1alpha2.LabelSelectorRequirement{
				{Key: "env", Operator: v1alpha2.LabelSelectorOpIn, Values: []v1alpha2.LabelValue{"prod", "staging"}},
				{Key: "legacy", Operator: v1alpha2.LabelSelectorOpDoesNotExist},
			},
		}, hook.Selector{
			MatchLabels: map[string]string{"tier": "critical"},
			MatchExpressions: []hook.Requirement{
				{Key: "env", Operator: hook.In, Values: []string{"prod", "staging"}},
				{Key: "legacy", Operator: hook.DoesNotExist},
			},
		}, ""},
		{"an operator the CRD would refuse is kept as an error naming the field", &v1alpha2.LabelSelector{
			MatchExpressions: []v1alpha2.LabelSelectorRequirement{{Key: "env", Operator: "Equals", Values: []v1alpha2.LabelValue{"prod"}}},
		}, hook.Selector{MatchExpressions: []hook.Requirement{{Key: "env", Operator: "Equals", Values: []string{"prod"}}}},
			`matchExpressions[0].operator: "Equals" is not In, NotIn, Exists or DoesNotExist`},
		{"a key whose prefix is longer than 253 characters, which the CRD's pattern lets through, is an error", &v1alpha2.LabelSelector{
			MatchExpressions: []v1alpha2.LabelSelectorRequirement{{Key: strings.Repeat("a", 254) + "/k", Operator: v1alpha2.LabelSelectorOpExists}},
		}, hook.Selector{MatchExpressions: []hook.Requirement{{Key: strings.Repeat("a", 254) + "/k", Operator: hook.Exists}}},
			`matchExpressions[0].key: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &v1alpha2.Hook{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "h"}, Spec: v1alpha2.HookSpec{
				EventConfigurations: []v1alpha2.EventConfiguration{
					{EventType: "pod-restart", AgentRef: &v1alpha2.AgentReference{Name: "a"}, Prompt: "p"},
					{EventType: "oom-kill", AgentRef: &v1alpha2.AgentReference{Name: "a"}, Prompt: "p", Selector: tt.selector},
				},
			}}
			got := kubernetes.ToDomain(h).Configurations
			if !got[0].Selector.Empty() || got[0].SelectorError != nil {
				t.Fatalf("the configuration without a selector got %+v, %v", got[0].Selector, got[0].SelectorError)
			}
			c := got[1]
			if !reflect.DeepEqual(c.Selector, tt.want) {
				t.Fatalf("Selector = %+v, want %+v", c.Selector, tt.want)
			}
			switch {
			case tt.wantErr == "" && c.SelectorError != nil:
				t.Fatalf("SelectorError = %v, want none", c.SelectorError)
			case tt.wantErr != "" && (c.SelectorError == nil || !strings.HasPrefix(c.SelectorError.Error(), tt.wantErr) || !errors.Is(c.SelectorError, hook.ErrInvalidSelector)):
				t.Fatalf("SelectorError = %v, want an ErrInvalidSelector starting %q", c.SelectorError, tt.wantErr)
			}
		})
	}
}

func TestToDomainCarriesTheHooksLimits(t *testing.T) {
	tests := []struct {
		name   string
		limits *v1alpha2.HookLimits
		want   hook.Limits
	}{
		{"no limits bound nothing", nil, hook.Limits{}},
		{"empty limits bound nothing", &v1alpha2.HookLimits{}, hook.Limits{}},
		{"a budget and a cooldown are carried over", &v1alpha2.HookLimits{MaxInvestigationsPerHour: ptr.To[int32](10), Cooldown: &metav1.Duration{Duration: 30 * time.Minute}},
			hook.Limits{MaxInvestigationsPerHour: 10, Cooldown: 30 * time.Minute}},
		{"values beyond the CRD's bounds are brought within them", &v1alpha2.HookLimits{MaxInvestigationsPerHour: ptr.To[int32](1 << 30), Cooldown: &metav1.Duration{Duration: 30 * 24 * time.Hour}},
			hook.Limits{MaxInvestigationsPerHour: hook.MaxInvestigationsPerHourLimit, Cooldown: hook.MaxCooldown}},
		{"a negative budget or cooldown is none", &v1alpha2.HookLimits{MaxInvestigationsPerHour: ptr.To[int32](-1), Cooldown: &metav1.Duration{Duration: -time.Minute}},
			hook.Limits{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &v1alpha2.Hook{Spec: v1alpha2.HookSpec{Limits: tt.limits}}
			if got := kubernetes.ToDomain(h).Limits; got != tt.want {
				t.Fatalf("Limits = %+v, want %+v", got, tt.want)
			}
		})
	}
}
