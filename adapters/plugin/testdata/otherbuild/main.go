// Command otherbuild is a valid plugin that the loader's tests build with flags other than
// the test binary's, to see it refused with the difference named. (A separate package: Go
// refuses a second plugin of the same package as "already loaded".)
package main

import (
	"context"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

var PluginMetadata = ports.SourceInfo{Name: "otherbuild", Version: "v1", EventTypes: []event.Type{"other-build"}}

func NewEventSource() ports.EventSource { return source{} }

type source struct{}

func (source) Info() ports.SourceInfo                     { return PluginMetadata }
func (source) Init(context.Context, ports.Settings) error { return nil }
func (source) Watch(ctx context.Context, _ ports.EventSink, running func()) error {
	running()
	<-ctx.Done()
	return nil
}
func (source) Stop(context.Context) error { return nil }

func main() {}
