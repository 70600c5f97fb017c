package sources

import (
	"errors"
	"fmt"

	"github.com/khook-dev/khook/ports"
)

// Registry holds the sources khook knows by name: the built-in ones and those an embedding
// operator adds. Plugins are not registered: the configuration names them and NewRouter loads
// them. A Registry is filled before NewRouter and not changed after.
type Registry struct {
	entries []registered
	byName  map[string]int
}

type registered struct {
	src              ports.EventSource
	enabledByDefault bool
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{byName: map[string]int{}} }

// Register adds src under the name its Info gives. A source enabled by default runs unless the
// configuration disables it; any other runs only when the configuration lists it.
func (r *Registry) Register(src ports.EventSource, enabledByDefault bool) error {
	if src == nil {
		return errors.New("registering an event source: it is nil")
	}
	name := src.Info().Name
	if !sourceNameFormat.MatchString(name) {
		return fmt.Errorf("registering event source %q: its name is not lower-case words joined by dashes", name)
	}
	if _, dup := r.byName[name]; dup {
		return fmt.Errorf("registering event source %q: a source of that name is already registered", name)
	}
	r.byName[name] = len(r.entries)
	r.entries = append(r.entries, registered{src: src, enabledByDefault: enabledByDefault})
	return nil
}

// Names lists the registered sources in the order they were registered.
func (r *Registry) Names() []string {
	names := make([]string, len(r.entries))
	for i, e := range r.entries {
		names[i] = e.src.Info().Name
	}
	return names
}

// PluginLoader loads a source from a Go plugin file; package adapters/plugin provides one.
type PluginLoader interface {
	// Load opens the plugin at path and returns its source, checking that it is named name.
	Load(name, path string) (ports.EventSource, error)
}
