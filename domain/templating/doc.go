// Package templating renders a hook's prompt from an event, safely. A prompt is written by a
// namespace tenant, so it is untrusted: the package refuses what it can when the prompt is
// checked and bounds the rest while it renders.
//
// A prompt is a Go text/template, parsed by text/template/parse and run by a small interpreter
// of the allowed subset (compile.go, exec.go) that gives the same output as text/template for
// every template it accepts (a differential fuzz test holds it to that) and charges every step
// against the render's budgets. text/template itself cannot be stopped once it runs, and its
// printf allows widths of a million.
//
// Allowed, checked by walking the parse tree (see docs/templates.md for users):
//   - fields: .EventType .ResourceName .ResourceKind .Namespace .Reason .Message .Timestamp
//     (RFC 3339) .EventTime (the same, the original khook's name) .Source .Severity
//     .Description, and the string maps .Metadata and .Tags (.Metadata.key, index .Metadata
//     "key", range);
//   - the incident the event belongs to (RenderGroup; Render makes it the event's resource
//     alone): .Subject (.Subject.Kind .Subject.Namespace .Subject.Name), .Resources (the sorted
//     names of its members, at most MaxResources (20): range, len, index, slice) and
//     .ResourceCount (an int);
//   - actions: text, comments, {{pipeline}}, variables ($x := …, $x = …, $), if/else if/else,
//     with/else with/else, range over .Metadata, .Tags (with $k, $v :=) or .Resources (with
//     $i, $name :=), break, continue;
//   - the functions in Functions, with text/template's behaviour.
//
// Refused when checked (errors wrap ErrRefused and say "prompt:LINE:COL: …"): define, block,
// template, call, html, js, urlquery, nil, complex numbers, method calls, fields other than
// Data's and Subject's, fields of strings, lists and ints, unknown functions, calls with the wrong
// number of arguments or a constant of the wrong type, range over anything but .Metadata, .Tags
// or .Resources, range inside range,
// if/with/range nested deeper than MaxNesting (5; an else-if chain is one level), parentheses
// deeper than MaxExpressionDepth (8), variables declared inside parentheses, printf formats
// with a width or precision above MaxFormatWidth (256), a * width or %p, and templates over
// MaxTemplateCharacters (10,000).
//
// Bounded while rendering (errors are *BudgetError, wrapping ErrBudgetExceeded and one of
// ErrTooManySteps, ErrOutputTooLarge, ErrProducedTooMuch, ErrDeadline, ErrFormat, and saying
// "prompt:LINE:COL: …" of the node being run):
//   - MaxSteps (100,000): every action, command, argument and range iteration is a step, and
//     a function reading or writing long strings costs a step per 256 bytes;
//   - MaxOutputBytes (32 KiB): output is cut as it is written, before the limit is passed;
//   - MaxProducedBytes (1 MiB): every string a function returns counts, written or not, and
//     print, printf and println must have room for the longest text they could make before fmt
//     runs;
//   - RenderDeadline (100 ms), read from the Renderer's clock every 1,024 steps;
//   - printf formats known only when rendering (from a variable or event text) follow the
//     format limits above (ErrFormat).
//
// Together these keep any render of any accepted template under about a second and a few MiB
// of allocation (FuzzRender checks 1 s and 8 MiB per input); in practice a render stopped by a
// budget takes milliseconds.
//
// Event text is data: it is never parsed as a template. Sanitize removes control characters
// and Unicode format characters (bidi overrides, zero-width characters, …), turns line breaks
// into spaces so a message cannot start a line of its own and forge the prompt's structure, and
// cuts each value at MaxValueBytes (4 KiB). SanitizeMetadata does the same for a map, bounded to
// MaxMetadataKeys (128) keys of at most MaxMetadataKeyBytes (256) and MaxMetadataBytes (64 KiB)
// in all: templates see .Metadata and .Tags through it, and the metadata sent to an agent
// should go through it too. An incident's subject and names are the caller's, trusted no more
// than event text: each is sanitized like it, and the names are sorted, rid of empty ones and
// duplicates, and cut to MaxResources; .ResourceCount is at least 1 and the names shown.
//
// Compile once, render many: Renderer caches compiled templates by text; Compile returns a
// *Template to keep. A render of a typical five-field prompt takes about half a microsecond and
// allocates only its result.
//
// Bounded in memory (limits.go, docs/templates.md "What a prompt costs"):
//   - a compiled prompt costs what it holds (Template.Cost: text two bytes a character, every
//     action, argument and parenthesis a hundred bytes or more; up to about 94 times the text);
//   - HookBudget refuses the prompts that would take one Hook past MaxHookCost (4 MiB), each
//     distinct prompt counted once; a refused prompt is not cached;
//   - the cache holds at most MaxCacheCost (64 MiB) in all, the prompts least recently used
//     giving way (CLOCK); its books are kept under a mutex, hits take no lock;
//   - at most MaxHeavyWork (8) compiles of long prompts and renders of expensive templates or
//     of more than 16 KiB of text run at once; the others wait, holding nothing but the text.
package templating
