package ports

import "k8s.io/utils/clock"

//go:generate go tool mockgen -typed -destination=mocks/mocks.go -package=mocks . AgentCaller,HookStatusWriter

// Clock is where the domain gets the time; tests use k8s.io/utils/clock/testing.FakeClock.
type Clock = clock.PassiveClock
