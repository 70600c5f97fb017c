#!/usr/bin/env bash
# Runs khook's storm workload (domain/pipeline/storm_bench_test.go) against the original khook,
# for a same-machine comparison in docs/benchmarks.md:
#
#   git clone https://github.com/kagent-dev/khook /tmp/original-khook
#   git -C /tmp/original-khook checkout c8abacf
#   hack/bench-original.sh /tmp/original-khook
#
# It copies hack/original-khook/storm_bench_test.go into the checkout's internal/pipeline, runs
# it with the same flags as `make bench`, and removes it again.
set -euo pipefail
checkout="${1:?usage: $0 PATH-TO-ORIGINAL-KHOOK-CHECKOUT}"
here="$(cd "$(dirname "$0")" && pwd)"
target="$checkout/internal/pipeline/zz_khook_storm_bench_test.go"
[[ -f "$checkout/internal/pipeline/processor.go" ]] || { echo "$checkout does not look like the original khook" >&2; exit 1; }
grep -v '^//go:build ignore$' "$here/original-khook/storm_bench_test.go" > "$target"
trap 'rm -f "$target"' EXIT
cd "$checkout"
echo "original khook at $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
go test -run '^$' -bench OriginalStorm -benchmem -count "${COUNT:-5}" ./internal/pipeline/
