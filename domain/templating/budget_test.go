package templating_test

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/khook-dev/khook/domain/templating"
)

// expensive is a 10,000-character prompt of the most expensive shape the sandbox takes, about
// 94 bytes per character compiled; n makes each one a prompt of its own.
func expensive(n int) string {
	head := "{{/*" + strconv.Itoa(n) + "*/}}{{print"
	return tenThousand(head, " ((((((((0))))))))", "}}")
}

func TestAHooksPromptsAreRefusedPastTheHooksMemoryBudget(t *testing.T) {
	typical := func(n int) string { return typicalPrompt + " #" + strconv.Itoa(n) }
	worst := templating.NewRenderer()
	tmpl, err := worst.Compile(expensive(0))
	if err != nil {
		t.Fatal(err)
	}
	fit := templating.MaxHookCost / tmpl.Cost() // expensive prompts that fit in a Hook's budget
	if fit < 2 || fit > 10 {
		t.Fatalf("%d expensive prompts fit in a Hook: the budgets no longer make this test's point", fit)
	}
	tests := []struct {
		name    string
		prompts []string
		refused []int // indexes of the prompts refused for the budget
		invalid []int // indexes refused for what they are
	}{
		{"fifty typical prompts are all accepted", repeat(50, typical), nil, nil},
		{"the expensive prompts that fit are accepted and the rest refused, each",
			repeat(fit+2, expensive), []int{fit, fit + 1}, nil},
		{"a prompt that several configurations share counts once",
			repeat(50, func(int) string { return expensive(7) }), nil, nil},
		{"a cheaper prompt after a refused one still fits",
			append(repeat(fit+1, expensive), typical(1)), []int{fit}, nil},
		{"a prompt refused for what it is costs nothing and keeps its own error",
			append([]string{`{{template "x"}}`, "{{.Secret}}"}, repeat(fit, expensive)...), nil, []int{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			budget := templating.NewRenderer().HookBudget()
			var refused, invalid []int
			for i, p := range tt.prompts {
				err := budget.Check(p)
				var cost *templating.CostError
				switch {
				case err == nil:
				case errors.As(err, &cost):
					refused = append(refused, i)
					if !errors.Is(err, templating.ErrHookBudget) || !errors.Is(err, templating.ErrRefused) {
						t.Errorf("prompt %d: %v does not wrap ErrHookBudget and ErrRefused", i, err)
					}
					if cost.Budget != templating.MaxHookCost || cost.Total != budget.Cost()+cost.Cost || cost.Total <= cost.Budget {
						t.Errorf("prompt %d: %+v does not add up with the Hook's %d", i, cost, budget.Cost())
					}
					for _, want := range []string{"template refused", "budget of 4.0 MiB per Hook", "KiB compiled", "would bring the Hook's prompts to 4."} {
						if !strings.Contains(err.Error(), want) {
							t.Errorf("prompt %d: %q does not say %q", i, err, want)
						}
					}
				case errors.Is(err, templating.ErrRefused) && !errors.Is(err, templating.ErrHookBudget):
					invalid = append(invalid, i)
				default:
					t.Errorf("prompt %d: unexpected %v", i, err)
				}
			}
			if !slices.Equal(refused, tt.refused) || !slices.Equal(invalid, tt.invalid) {
				t.Errorf("refused for the budget %v, for what they are %v; want %v and %v", refused, invalid, tt.refused, tt.invalid)
			}
			if budget.Cost() > templating.MaxHookCost {
				t.Errorf("the Hook's prompts cost %d, more than %d", budget.Cost(), templating.MaxHookCost)
			}
		})
	}
}

func repeat(n int, prompt func(int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prompt(i)
	}
	return out
}
