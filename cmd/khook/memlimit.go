package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The Go runtime's memory limit. Without one the heap may grow to twice what is live before a
// collection, and the container is killed at its limit with room to spare in the heap; with one
// (debug.SetMemoryLimit, as GOMEMLIMIT sets it) the collector works harder as the heap nears it.
// khook sets it to a share of the container's limit, which the chart passes in
// KHOOK_MEMORY_LIMIT (from the downward API) and which the cgroup says otherwise.

// defaultMemoryLimitRatio leaves a tenth of the container's limit for what the Go runtime does
// not count (goroutine stacks beyond the heap's, the binary, the C libraries, fragmentation).
const defaultMemoryLimitRatio = 0.9

// cgroupMemoryFiles hold the container's memory limit: cgroup v2's memory.max, then v1's.
var cgroupMemoryFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// memoryConfig is what khook is told about memory.
type memoryConfig struct {
	ratio      float64 // --memory-limit-ratio
	container  int64   // KHOOK_MEMORY_LIMIT in bytes, 0 when unset
	goMemLimit string  // GOMEMLIMIT as set, which the runtime has read
}

// register defines --memory-limit-ratio on fs and reads KHOOK_MEMORY_LIMIT and GOMEMLIMIT.
func (m *memoryConfig) register(fs *flag.FlagSet, getenv func(string) string) error {
	m.ratio = defaultMemoryLimitRatio
	fs.Var((*ratio)(&m.ratio), "memory-limit-ratio", "share (a `ratio` from 0 to 1) of the container's memory limit (KHOOK_MEMORY_LIMIT, else the cgroup's) that the Go runtime keeps its memory under; 0 sets no limit; GOMEMLIMIT, when set, wins")
	m.goMemLimit = getenv("GOMEMLIMIT")
	if v := getenv("KHOOK_MEMORY_LIMIT"); v != "" {
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			return fmt.Errorf("KHOOK_MEMORY_LIMIT: %q is not a memory size such as 536870912 or 512Mi", v)
		}
		m.container = q.Value()
	}
	return nil
}

// memoryLimit is the runtime's memory limit khook decides on.
type memoryLimit struct {
	bytes     int64  // the limit to set; 0 sets none
	container int64  // the container's limit it is a share of
	from      string // where the container's limit (or the limit) comes from; "" when none
}

// limit decides the runtime's memory limit: none to set when GOMEMLIMIT is set (the runtime has
// read it) or the ratio is 0; else the ratio of the container's limit, from KHOOK_MEMORY_LIMIT
// or the cgroup.
func (m memoryConfig) limit(readFile func(string) ([]byte, error)) memoryLimit {
	switch {
	case m.goMemLimit != "":
		return memoryLimit{from: "GOMEMLIMIT"}
	case m.ratio == 0:
		return memoryLimit{}
	}
	l := memoryLimit{container: m.container, from: "KHOOK_MEMORY_LIMIT"}
	if l.container == 0 {
		l.container, l.from = cgroupMemoryLimit(readFile)
	}
	if l.container > 0 {
		l.bytes = int64(float64(l.container) * m.ratio)
	}
	return l
}

// cgroupMemoryLimit reads the container's memory limit from its cgroup, and says which file
// gave it; 0 when there is none.
func cgroupMemoryLimit(readFile func(string) ([]byte, error)) (int64, string) {
	for _, path := range cgroupMemoryFiles {
		data, err := readFile(path)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || n <= 0 || n >= math.MaxInt64/2 { // v2 writes "max", v1 a huge number
			return 0, ""
		}
		return n, path
	}
	return 0, ""
}

// applyMemoryLimit sets the runtime's memory limit as m says and logs the limit in force.
func applyMemoryLimit(log logr.Logger, m memoryConfig, readFile func(string) ([]byte, error)) {
	l := m.limit(readFile)
	if l.bytes > 0 {
		debug.SetMemoryLimit(l.bytes)
	}
	current := debug.SetMemoryLimit(-1)
	switch {
	case l.bytes > 0:
		log.Info("Go memory limit set from the container's", "limitBytes", current, "containerLimitBytes", l.container, "from", l.from, "ratio", m.ratio)
	case l.from == "GOMEMLIMIT":
		log.Info("Go memory limit set by GOMEMLIMIT", "limitBytes", current, "GOMEMLIMIT", m.goMemLimit)
	case m.ratio == 0:
		log.Info("no Go memory limit: --memory-limit-ratio is 0", "limitBytes", current)
	default:
		log.Info("no Go memory limit: the container's memory limit is unknown (KHOOK_MEMORY_LIMIT unset, no cgroup limit)", "limitBytes", current)
	}
}

// ratio is a number from 0 to 1.
type ratio float64

func (r *ratio) String() string { return strconv.FormatFloat(float64(*r), 'g', -1, 64) }
func (r *ratio) Set(v string) error {
	parsed, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(parsed) {
		return errors.New("not a number")
	}
	if parsed < 0 || parsed > 1 {
		return errors.New("must be from 0 to 1")
	}
	*r = ratio(parsed)
	return nil
}
