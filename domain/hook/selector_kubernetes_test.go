package hook_test

// This test compares the domain's selector with Kubernetes' own. It is the one place under
// domain/ that imports apimachinery: test files are not part of the domain's build (see
// domain/imports_test.go).

import (
	"math/rand/v2"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/khook-dev/khook/domain/hook"
)

func TestSelectorAgreesWithKubernetesOnGeneratedCases(t *testing.T) {
	keys := []string{"app", "tier", "example.com/zone", "app.kubernetes.io/name", "A_b.c",
		"", "Bad Key", "a/b/c", "/x", "Example.com/x", "x-", strings.Repeat("k", 63), strings.Repeat("k", 64),
		strings.Repeat("p", 254) + "/k", "k8s.io/"}
	values := []string{"", "web", "critical", "prod", "v1.2_3-x", "-bad", "bad-", "a b", strings.Repeat("v", 63), strings.Repeat("v", 64)}
	operators := []metav1.LabelSelectorOperator{metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn, metav1.LabelSelectorOpExists,
		metav1.LabelSelectorOpDoesNotExist, "Equals", "in", ""}
	labelKeys, labelValues := keys[:5], values[:5]

	rng := rand.New(rand.NewPCG(18, 2026))
	pick := func(from []string, validOnly bool) string {
		if validOnly {
			from = from[:5]
		}
		return from[rng.IntN(len(from))]
	}
	const cases, labelSets = 20000, 8
	var valid, invalid, matched, unmatched int
	for n := range cases {
		// One case in four may hold an invalid part; the rest stay valid, to compare matching.
		mayBeInvalid := rng.IntN(4) == 0
		ls := metav1.LabelSelector{}
		for range rng.IntN(3) {
			if ls.MatchLabels == nil {
				ls.MatchLabels = map[string]string{}
			}
			ls.MatchLabels[pick(keys, !mayBeInvalid)] = pick(values, !mayBeInvalid)
		}
		for range rng.IntN(4) {
			op := operators[rng.IntN(4)]
			if mayBeInvalid {
				op = operators[rng.IntN(len(operators))]
			}
			r := metav1.LabelSelectorRequirement{Key: pick(keys, !mayBeInvalid), Operator: op}
			count := rng.IntN(3)
			switch {
			case mayBeInvalid:
				count = rng.IntN(4)
			case op == metav1.LabelSelectorOpExists || op == metav1.LabelSelectorOpDoesNotExist:
				count = 0
			case count == 0:
				count = 1
			}
			for range count {
				r.Values = append(r.Values, pick(values, !mayBeInvalid))
			}
			ls.MatchExpressions = append(ls.MatchExpressions, r)
		}

		want, wantErr := metav1.LabelSelectorAsSelector(&ls)
		s := toDomainSelector(ls)
		gotErr := s.Validate()
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("case %d: %+v\nValidate() = %v, Kubernetes says %v", n, ls, gotErr, wantErr)
		}
		if gotErr != nil {
			invalid++
			continue
		}
		valid++
		for range labelSets {
			var set map[string]string
			for range rng.IntN(4) {
				if set == nil {
					set = map[string]string{}
				}
				set[labelKeys[rng.IntN(len(labelKeys))]] = labelValues[rng.IntN(len(labelValues))]
			}
			got := s.Matches(set)
			if w := want.Matches(labels.Set(set)); got != w {
				t.Fatalf("case %d: %+v on labels %v: Matches = %v, Kubernetes says %v", n, ls, set, got, w)
			}
			if got {
				matched++
			} else {
				unmatched++
			}
		}
	}
	// The generator must exercise both sides of each answer, or the comparison proves little.
	if valid < cases/2 || invalid < cases/20 || matched < cases || unmatched < cases {
		t.Fatalf("the generated cases are lopsided: %d valid, %d invalid; %d matches, %d non-matches", valid, invalid, matched, unmatched)
	}
	t.Logf("%d valid and %d invalid selectors; %d matches and %d non-matches agree with Kubernetes", valid, invalid, matched, unmatched)
}

func toDomainSelector(ls metav1.LabelSelector) hook.Selector {
	s := hook.Selector{MatchLabels: ls.MatchLabels}
	for _, r := range ls.MatchExpressions {
		s.MatchExpressions = append(s.MatchExpressions, hook.Requirement{Key: r.Key, Operator: hook.Operator(r.Operator), Values: r.Values})
	}
	return s
}
