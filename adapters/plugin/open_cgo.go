//go:build cgo && (linux || darwin || freebsd)

package plugin

import (
	"fmt"
	goplugin "plugin"

	"github.com/khook-dev/khook/ports"
)

// Supported reports whether this khook can load plugins.
const Supported = true

// open opens the plugin and looks up its two symbols, checking their types.
func open(path string) (*ports.SourceInfo, func() ports.EventSource, error) {
	p, err := goplugin.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w%s (plugin.Open remembers this failure: put a fixed plugin at a new path, or restart khook)", err, diagnose(path))
	}
	metaSym, err := p.Lookup(MetadataSymbol)
	if err != nil {
		return nil, nil, fmt.Errorf("%s exports no %s: declare `var %s = ports.SourceInfo{...}`", path, MetadataSymbol, MetadataSymbol)
	}
	meta, ok := metaSym.(*ports.SourceInfo)
	if !ok {
		return nil, nil, fmt.Errorf("%s's %s is a %T; want a variable of type ports.SourceInfo (`var %s = ports.SourceInfo{...}`)", path, MetadataSymbol, metaSym, MetadataSymbol)
	}
	factorySym, err := p.Lookup(FactorySymbol)
	if err != nil {
		return nil, nil, fmt.Errorf("%s exports no %s: declare `func %s() ports.EventSource`", path, FactorySymbol, FactorySymbol)
	}
	factory, ok := factorySym.(func() ports.EventSource)
	if !ok {
		return nil, nil, fmt.Errorf("%s's %s is a %T; want `func %s() ports.EventSource`", path, FactorySymbol, factorySym, FactorySymbol)
	}
	return meta, factory, nil
}
