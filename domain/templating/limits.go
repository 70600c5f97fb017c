package templating

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limits on a prompt, checked when it is compiled (Check, Compile).
const (
	// MaxTemplateCharacters is the CRD's limit on a prompt, counted as the API server counts it.
	MaxTemplateCharacters = 10000
	// MaxNesting is how deep if, with and range may nest. An "else if" chain counts as one level.
	MaxNesting = 5
	// MaxExpressionDepth is how deep parenthesised pipelines may nest, as in (len (print .Reason)).
	MaxExpressionDepth = 8
	// MaxFormatWidth bounds every width and precision in a printf format, such as %-20s or %.2f.
	MaxFormatWidth = 256
)

// Budgets of one render.
const (
	MaxOutputBytes = 32 * 1024 // a rendered prompt
	// MaxSteps bounds the work of one render: every action, command, argument and range
	// iteration costs a step, and a function that reads or writes long strings costs one more
	// step per 256 bytes.
	MaxSteps = 100_000
	// MaxProducedBytes bounds the bytes that functions (print, printf, upper, slice, …) return in
	// one render, written or not, so that a loop assigning printf results to a variable cannot
	// allocate without bound.
	MaxProducedBytes = 1 << 20
	// RenderDeadline bounds the time of one render. The clock is read every 1,024 steps, from the
	// 1,024th step on, so the first steps (bounded by the step budget) are not timed.
	RenderDeadline = 100 * time.Millisecond
)

// Limits on event data, applied before a template sees it (and by SanitizeMetadata).
const (
	MaxValueBytes = 4096 // one event field or metadata value
	// MaxMetadataKeys is how many keys of .Metadata (and of .Tags) a template sees: the first
	// ones in key order.
	MaxMetadataKeys = 128
	// MaxMetadataKeyBytes bounds one metadata key.
	MaxMetadataKeyBytes = 256
	// MaxMetadataBytes bounds the keys and values of one metadata map together.
	MaxMetadataBytes = 64 * 1024
	// MaxResources is how many member names of an incident a template sees in .Resources: the
	// first ones in name order, each bounded like an event field. .ResourceCount counts them all.
	MaxResources = 20
)

// Memory budgets. A compiled prompt costs what it holds in memory (Template.Cost): about two
// bytes a character of text, and a hundred bytes or more for every action, argument and
// parenthesis, so that a 10,000-character prompt costs from 21 KB to about 1 MB.
const (
	// MaxHookCost bounds the compiled cost of one Hook's prompts together, each distinct prompt
	// counted once (HookBudget): a configuration whose prompt would pass it is refused.
	MaxHookCost = 4 << 20
	// MaxCacheCost bounds what a Renderer's cache of compiled prompts holds in all, whatever
	// the number of Hooks: past it, the prompts least recently used are dropped, and compiled
	// again when they render next.
	MaxCacheCost = 64 << 20
	// MaxHeavyWork is how many renders and compiles that may hold much memory run at once; the
	// others wait for a turn. A compile is heavy when its prompt is longer than
	// lightCompileBytes; a render when its template costs more than lightTemplateCost (a render
	// holds its template, which the cache may have let go meanwhile), or from the moment its
	// output and the text its functions made pass lightRenderBytes. Light work, such as a
	// typical prompt's render, never waits.
	MaxHeavyWork = 8
)

const (
	// lightCompileBytes: compiling allocates up to about 175 bytes per byte of prompt.
	lightCompileBytes = 256
	// lightTemplateCost: a template that costs more makes its renders heavy.
	lightTemplateCost = 64 << 10
	// lightRenderBytes: what a render that holds no turn may make (written and produced).
	lightRenderBytes = 16 << 10
	// entryOverhead is a cache entry's cost besides its template's: the entry, its map node,
	// its slot in the eviction ring.
	entryOverhead = 256
)

// ErrRefused is wrapped by every error about a template that breaks the allow-list or a
// compile-time limit. Its message names the line and column: "prompt:LINE:COL: …".
var ErrRefused = errors.New("template refused")

// ErrBudgetExceeded is wrapped by every error of a render stopped by one of its budgets. Each
// budget has its own sentinel, which wraps this one.
var ErrBudgetExceeded = errors.New("render budget exceeded")

// The budgets a render can exceed. Each wraps ErrBudgetExceeded; a render error is a
// *BudgetError that wraps one of these.
var (
	// ErrOutputTooLarge is returned when rendering would exceed MaxOutputBytes.
	ErrOutputTooLarge  = fmt.Errorf("%w: rendered prompt is larger than %d bytes", ErrBudgetExceeded, MaxOutputBytes)
	ErrTooManySteps    = fmt.Errorf("%w: more than %d steps", ErrBudgetExceeded, MaxSteps)
	ErrProducedTooMuch = fmt.Errorf("%w: functions produced more than %d bytes",
		ErrBudgetExceeded, MaxProducedBytes)
	ErrDeadline = fmt.Errorf("%w: rendering took longer than %v", ErrBudgetExceeded, RenderDeadline)
	// ErrFormat is a printf format, known only at render time, that breaks the format limits
	// (a width or precision above MaxFormatWidth, a * width, or %p).
	ErrFormat = fmt.Errorf("%w: printf format out of bounds", ErrBudgetExceeded)
)

// ErrHookBudget is wrapped by the error of a prompt that would take its Hook past MaxHookCost
// (a *CostError). It wraps ErrRefused.
var ErrHookBudget = fmt.Errorf("%w: over the memory budget of a Hook's prompts", ErrRefused)

// CostError is a prompt refused for its Hook's memory budget.
type CostError struct {
	Cost   int // the prompt's compiled cost, in bytes
	Total  int // what the Hook's prompts would cost with it
	Budget int // MaxHookCost
}

func (e *CostError) Error() string {
	return fmt.Sprintf("%v: this prompt costs %s compiled, which would bring the Hook's prompts to %s, more than the budget of %s per Hook "+
		"(text costs about two bytes a character, every action, argument and parenthesis a hundred bytes or more; a prompt that several configurations share counts once)",
		ErrHookBudget, formatBytes(e.Cost), formatBytes(e.Total), formatBytes(e.Budget))
}

func (e *CostError) Unwrap() error { return ErrHookBudget }

// formatBytes writes n bytes for people: "812 B", "95.3 KiB", "4.0 MiB".
func formatBytes(n int) string {
	switch {
	case n < 1<<10:
		return strconv.Itoa(n) + " B"
	case n < 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
}

// BudgetError says which budget stopped a render, and where.
type BudgetError struct {
	Where  string // "prompt:LINE:COL" of the node being run
	Err    error  // one of ErrOutputTooLarge, ErrTooManySteps, ErrProducedTooMuch, ErrDeadline, ErrFormat
	Detail string // more about the cause, when there is more to say
}

func (e *BudgetError) Error() string {
	if e.Detail == "" {
		return e.Where + ": " + e.Err.Error()
	}
	return e.Where + ": " + e.Err.Error() + ": " + e.Detail
}

func (e *BudgetError) Unwrap() error { return e.Err }

// location renders a byte offset of text as "prompt:LINE:COL", the way text/template/parse's
// ErrorContext does (the column counts bytes from 0), so that compile and render errors agree.
func location(text string, pos int) string {
	if pos > len(text) {
		pos = len(text)
	}
	before := text[:pos]
	col := pos
	if nl := strings.LastIndexByte(before, '\n'); nl >= 0 {
		col = pos - nl - 1
	}
	return "prompt:" + strconv.Itoa(1+strings.Count(before, "\n")) + ":" + strconv.Itoa(col)
}
