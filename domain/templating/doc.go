// Package templating renders a hook's prompt from an event, safely.
//
// A prompt is a Go text/template. Safety comes from walking the parsed template against an
// allow-list, not from looking for substrings:
//   - fields: .EventType .ResourceName .ResourceKind .Namespace .Reason .Message .Timestamp
//     (RFC 3339), .EventTime (the same, the original khook's name), .Source and .Metadata
//     (a string map: .Metadata.key, index .Metadata "key", range over it);
//   - actions: text, {{ field }}, if/else, with, range (over .Metadata only), break, continue,
//     variables, and pipelines of the functions in Functions;
//   - refused, with the line and column: define, template, block, call, method calls, unknown
//     fields, unknown functions, and field chains.
//
// Event text is inserted as data: it is never parsed as a template, control characters are
// removed, and line breaks become spaces, so a message cannot start a line of its own and forge
// the prompt's structure. Each value is cut at MaxValueBytes, the template at MaxTemplateBytes
// and the output at MaxOutputBytes. Compiled templates are cached.
package templating
