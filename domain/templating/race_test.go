//go:build race

package templating_test

// raceEnabled says whether the race detector is on: allocation counts mean nothing then.
const raceEnabled = true
