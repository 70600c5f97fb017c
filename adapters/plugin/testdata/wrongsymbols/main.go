// Command wrongsymbols is a plugin that breaks the contract: its PluginMetadata is a function
// and its NewEventSource returns a concrete type. The loader's tests build it.
package main

import (
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

func PluginMetadata() ports.SourceInfo {
	return ports.SourceInfo{Name: "wrongsymbols", EventTypes: []event.Type{"wrong"}}
}

type source struct{}

func NewEventSource() *source { return &source{} }

func main() {}
