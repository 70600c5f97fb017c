// Package clock provides the real clock behind the ports.Clock port.
package clock
