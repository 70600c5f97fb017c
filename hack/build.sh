#!/usr/bin/env bash
# Builds the controller binary: the one definition of how, used by `make build` and by the
# Dockerfile (so the image and a local build cannot drift apart; cmd/khook's image test
# checks the result).
#
# CGO_ENABLED=1: Go plugins (event sources loaded from .so files) need cgo, so the binary is
# linked dynamically against glibc and the runtime image must have it. -trimpath and the
# linker flags must match those of the plugins it loads.
set -euo pipefail
out="${1:?usage: hack/build.sh OUTPUT}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
cd "$(dirname "$0")/.."
export CGO_ENABLED=1
exec go build -trimpath -ldflags "-s -w" -o "$out" ./cmd/khook
