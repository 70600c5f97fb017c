package a2a

import (
	"github.com/google/wire"

	"github.com/khook-dev/khook/ports"
)

// ProviderSet provides the agent caller the app uses: breaker(retry(caller)).
var ProviderSet = wire.NewSet(NewResilientCaller)

// NewResilientCaller returns WithBreaker(WithRetry(NewCaller(cfg))).
func NewResilientCaller(cfg Config, retry RetryPolicy, breaker BreakerSettings) (ports.AgentCaller, error) {
	c, err := NewCaller(cfg)
	if err != nil {
		return nil, err
	}
	return WithBreaker(WithRetry(c, retry, cfg.Logger), breaker, cfg.Logger), nil
}
