// Package plugin loads event sources from Go plugins (.so files built with
// -buildmode=plugin). A plugin exports two symbols:
//
//	var PluginMetadata = ports.SourceInfo{Name: "httpprobe", Version: "v1", EventTypes: []event.Type{"endpoint-down"}}
//	func NewEventSource() ports.EventSource
//
// The Loader checks both symbols' types, that the metadata names a source (the name the
// configuration gives it) with at least one well-formed event type, and that the source made
// by NewEventSource has the same name. The router then refuses a plugin whose event type
// another source already provides.
//
// Go plugins need a khook built with cgo (CGO_ENABLED=1, dynamically linked against glibc) and
// a plugin built by the same Go version, with the same flags (-trimpath; -race if khook has it)
// and the same version of every package both use, khook's own included. A khook built without
// cgo compiles this package's stub, which explains that. plugin.Open remembers a failure for a
// path until the process ends: a fixed plugin must be put at a new path, or khook restarted.
// See docs/sources.md for the plugin author's contract.
package plugin
