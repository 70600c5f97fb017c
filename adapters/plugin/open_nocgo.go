//go:build !cgo || !(linux || darwin || freebsd)

package plugin

import "github.com/khook-dev/khook/ports"

// Supported reports whether this khook can load plugins.
const Supported = false

func open(string) (*ports.SourceInfo, func() ports.EventSource, error) {
	return nil, nil, ErrUnsupported
}
