// Package ports declares the small interfaces the domain needs from the outside world, and the
// value types they carry. Adapters implement them; decorators keep their shape (a retrying,
// circuit-breaking AgentCaller is still an AgentCaller).
package ports
