#!/usr/bin/env bash
# Installs helm (pinned) into a cache outside the clone and prints its path. helm is built from
# the Go module proxy (~3-5 min once) and kept out of go.mod.
set -euo pipefail
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
cache_root="${TOOLS_CACHE:-$(go env GOCACHE)/../khook-tools}"
mkdir -p "$cache_root"
bin_dir="$(cd "$cache_root" && pwd)/helm-$HELM_VERSION"
if [[ ! -x "$bin_dir/helm" ]]; then
  echo "helm: building $HELM_VERSION from the module proxy (once)" >&2
  mkdir -p "$bin_dir"
  (cd "$bin_dir" && GOBIN="$bin_dir" GOFLAGS=-buildvcs=false go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
fi
echo "$bin_dir/helm"
