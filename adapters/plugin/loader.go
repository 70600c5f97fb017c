package plugin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/go-logr/logr"

	"github.com/khook-dev/khook/adapters/sources"
	"github.com/khook-dev/khook/ports"
)

// The symbols a plugin exports.
const (
	MetadataSymbol = "PluginMetadata"
	FactorySymbol  = "NewEventSource"
)

// ErrUnsupported is the failure of every Load in a khook built without cgo.
var ErrUnsupported = errors.New("plugin support requires a cgo build of khook (CGO_ENABLED=1; see docs/sources.md); this binary was built without cgo")

// Loader loads event sources from Go plugins.
type Loader struct {
	log logr.Logger
}

var _ sources.PluginLoader = (*Loader)(nil)

// NewLoader returns a Loader.
func NewLoader(log logr.Logger) *Loader { return &Loader{log: log.WithName("plugin")} }

// Load opens the plugin at path and returns the source it makes, checked against the contract
// (see the package documentation).
func (l *Loader) Load(name, path string) (ports.EventSource, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("plugin for source %q: %s does not exist", name, path)
		}
		return nil, fmt.Errorf("plugin for source %q: %w", name, err)
	}
	meta, factory, err := open(path)
	if err != nil {
		return nil, fmt.Errorf("plugin for source %q: %w", name, err)
	}
	src, err := validate(name, path, meta, factory)
	if err != nil {
		return nil, fmt.Errorf("plugin for source %q (%s): %w", name, path, err)
	}
	info := src.Info()
	l.log.Info("loaded event source plugin", "source", name, "path", path, "version", info.Version, "eventTypes", info.EventTypes)
	return src, nil
}

// validate checks the plugin's metadata and makes its source.
func validate(name, path string, meta *ports.SourceInfo, factory func() ports.EventSource) (src ports.EventSource, err error) {
	if meta.Name == "" {
		return nil, fmt.Errorf("%s.Name is empty", MetadataSymbol)
	}
	if meta.Name != name {
		return nil, fmt.Errorf("the plugin is source %q, but the configuration calls it %q: rename the file or the entry", meta.Name, name)
	}
	if len(meta.EventTypes) == 0 {
		return nil, fmt.Errorf("%s.EventTypes is empty: a source provides at least one event type", MetadataSymbol)
	}
	for _, t := range meta.EventTypes {
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("%s.EventTypes: %w", MetadataSymbol, err)
		}
	}
	defer func() {
		if p := recover(); p != nil {
			src, err = nil, fmt.Errorf("%s panicked: %v", FactorySymbol, p)
		}
	}()
	src = factory()
	if src == nil {
		return nil, fmt.Errorf("%s returned nil", FactorySymbol)
	}
	if got := src.Info().Name; got != meta.Name {
		return nil, fmt.Errorf("%s made source %q, but %s names %q", FactorySymbol, got, MetadataSymbol, meta.Name)
	}
	return src, nil
}
