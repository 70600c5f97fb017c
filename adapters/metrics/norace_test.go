//go:build !race

package metrics

// raceEnabled says whether the race detector is on: allocation counts mean nothing then.
const raceEnabled = false
