package pipeline_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/pipeline"
	"github.com/khook-dev/khook/domain/status"
	"github.com/khook-dev/khook/domain/templating"
)

// expensivePrompt is a 10,000-character prompt of the most expensive shape the sandbox takes
// (about 940 KB compiled), of its own for each n.
func expensivePrompt(n int) string {
	head := fmt.Sprintf("{{/*%d*/}}{{print", n)
	unit := " ((((((((0))))))))"
	return head + strings.Repeat(unit, (templating.MaxTemplateCharacters-len(head)-2)/len(unit)) + "}}"
}

// expensiveThatFit is how many expensive prompts fit in one Hook's budget.
func expensiveThatFit(t *testing.T) int {
	t.Helper()
	tmpl, err := templating.NewRenderer().Compile(expensivePrompt(0))
	if err != nil {
		t.Fatal(err)
	}
	return templating.MaxHookCost / tmpl.Cost()
}

// configurations makes n configurations of prompt(i), each telling an agent of its own.
func configurations(n int, prompt func(i int) string) []hook.Configuration {
	out := make([]hook.Configuration, n)
	for i := range out {
		out[i] = onRestart(hook.AgentRef{Namespace: "kagent", Name: fmt.Sprintf("agent-%d", i)}, prompt(i))
	}
	return out
}

func TestAHooksConfigurationsPastItsPromptMemoryBudgetAreRefusedAndNamed(t *testing.T) {
	fit := expensiveThatFit(t)
	tests := []struct {
		name    string
		configs []hook.Configuration
		refused []int // the configurations refused for the budget
	}{
		{"a Hook of fifty typical prompts is accepted whole",
			configurations(50, func(i int) string { return fmt.Sprintf("Pod {{.ResourceName}} restarted (%d): {{.Message}}", i) }), nil},
		{"a Hook's expensive prompts past its budget are refused, each named",
			configurations(fit+2, expensivePrompt), []int{fit, fit + 1}},
		{"fifty configurations sharing one expensive prompt are accepted",
			configurations(50, func(int) string { return expensivePrompt(7) }), nil},
		{"a configuration refused for its agent costs nothing",
			append([]hook.Configuration{
				onRestart(hook.AgentRef{Namespace: "kagent", Name: "agent-0"}, "x"),
				onRestart(hook.AgentRef{Namespace: "kagent", Name: "agent-0"}, expensivePrompt(99)), // agent-0 again
			}, configurations(fit+1, expensivePrompt)[1:]...), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, pipeline.Options{})
			c := f.p.UpsertHook(context.Background(), newHook("apps", "costly", tt.configs...))
			named := strings.Count(c.Message, "over the memory budget of a Hook's prompts")
			if named != len(tt.refused) {
				t.Fatalf("Accepted names %d configurations over the budget, want %d: %s", named, len(tt.refused), c.Message)
			}
			for _, i := range tt.refused {
				want := fmt.Sprintf("spec.eventConfigurations[%d].prompt: template refused: over the memory budget of a Hook's prompts: this prompt costs ", i)
				if c.Status || c.Reason != status.ReasonTemplateRefused || !strings.Contains(c.Message, want) ||
					!strings.Contains(c.Message, "more than the budget of 4.0 MiB per Hook") {
					t.Errorf("Accepted = %v %s %q\nwant it to contain %q and the budget", c.Status, c.Reason, c.Message, want)
				}
			}
			f.handle(restart)
			told := map[string]bool{}
			for _, call := range f.agent.Calls("send", hook.AgentRef{}) {
				told[call.Agent.Name] = true
			}
			for i, cfg := range tt.configs {
				refused := false
				for _, r := range tt.refused {
					refused = refused || r == i
				}
				if refused && told[cfg.Agent.Name] {
					t.Errorf("the agent of configuration %d, refused, was told", i)
				}
			}
		})
	}
}

// TestTheIssuesTenHooksOfFiftyExpensivePromptsStayWithinTheirMemoryBound is issue 15's attack:
// 10 Hooks of 50 configurations, each prompt 10,000 characters of the most expensive shape
// (470 MB compiled in all), then an event every Hook matches. Each Hook keeps what fits in its
// budget; the heap holds no more than 10 budgets.
func TestTheIssuesTenHooksOfFiftyExpensivePromptsStayWithinTheirMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles 500 prompts of 10,000 characters")
	}
	const hooks, configs = 10, 50
	const bound = hooks*templating.MaxHookCost + 8<<20
	fit := expensiveThatFit(t)
	f := newFixture(t, pipeline.Options{})
	before := heapAfterGC()
	for h := range hooks {
		c := f.p.UpsertHook(context.Background(), newHook("apps", fmt.Sprintf("costly-%d", h),
			configurations(configs, func(i int) string { return expensivePrompt(h*configs + i) })...))
		if refused := strings.Count(c.Message, "over the memory budget"); refused != configs-fit {
			t.Errorf("Hook %d: %d configurations refused for the budget, want %d", h, refused, configs-fit)
		}
	}
	f.handle(restart)
	held := heapAfterGC() - before
	t.Logf("%d Hooks of %d expensive prompts hold %.1f MiB", hooks, configs, float64(held)/(1<<20))
	if held > bound {
		t.Errorf("the heap grew by %.1f MiB, more than %.1f MiB", float64(held)/(1<<20), float64(bound)/(1<<20))
	}
	if sent := f.agent.Count("send", hook.AgentRef{}); sent > hooks*fit {
		t.Errorf("%d agents were told, more than the %d of the configurations accepted", sent, hooks*fit)
	}
}

// heapAfterGC is the live heap after two collections.
func heapAfterGC() int {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int(m.HeapAlloc)
}
