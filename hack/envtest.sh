#!/usr/bin/env bash
# Installs the envtest control plane (kube-apiserver and etcd) into a versioned cache outside the
# clone and prints the directory to use as KUBEBUILDER_ASSETS.
#
# setup-envtest's download bucket is tried first; where it is unreachable (no internet but the Go
# module proxy), both binaries are built from the Go module proxy instead. The cache lives next to
# the Go build cache, so every clone on the same machine reuses it.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-1.37.1}"
ETCD_VERSION="${ETCD_VERSION:-3.7.3}"
SETUP_ENVTEST_VERSION="${SETUP_ENVTEST_VERSION:-release-0.22}"

cache_root="${ENVTEST_CACHE:-$(go env GOCACHE)/../khook-envtest}"
mkdir -p "$cache_root"
cache_root="$(cd "$cache_root" && pwd)"
assets="$cache_root/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION"

log() { echo "envtest: $*" >&2; }

if [[ -x "$assets/kube-apiserver" && -x "$assets/etcd" ]]; then
  echo "$assets"
  exit 0
fi
mkdir -p "$assets"

try_download() {
  # Fails fast where the bucket is unreachable; a time-out bounds the slow case.
  local dir
  dir=$(timeout 60 go run "sigs.k8s.io/controller-runtime/tools/setup-envtest@$SETUP_ENVTEST_VERSION" \
    use "$KUBE_VERSION" --bin-dir "$cache_root/setup-envtest" -p path 2>/dev/null) || return 1
  [[ -x "$dir/kube-apiserver" && -x "$dir/etcd" ]] || return 1
  cp "$dir/kube-apiserver" "$dir/etcd" "$assets/"
}

build_kube_apiserver() {
  local work="$cache_root/build-kube-apiserver-$KUBE_VERSION"
  rm -rf "$work" && mkdir -p "$work"
  log "building kube-apiserver v$KUBE_VERSION from the module proxy (cold: ~9 min, 2.4 GB RAM)"
  (
    cd "$work"
    go mod init khook.local/envtest-kube-apiserver >/dev/null 2>&1
    go mod edit -require="k8s.io/kubernetes@v$KUBE_VERSION"
    # k8s.io/kubernetes requires its staging modules at v0.0.0 and relies on replace directives
    # that a dependent module does not inherit: replace each with its published v0.x release.
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    local staging_version="v0.${KUBE_VERSION#1.}"
    grep -E '^\s*k8s\.io/[^ ]+ v0\.0\.0(\s|$)' "$gomod" | awk '{print $1}' | sort -u | while read -r mod; do
      go mod edit -replace="$mod=$mod@$staging_version"
    done
    cat > tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
    go mod tidy >/dev/null
    local major minor pkgs ldflags=""
    major="${KUBE_VERSION%%.*}"; minor="${KUBE_VERSION#*.}"; minor="${minor%%.*}"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    done
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w$ldflags" -o "$assets/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  )
  rm -rf "$work"
}

build_etcd() {
  local work="$cache_root/build-etcd-$ETCD_VERSION"
  rm -rf "$work" && mkdir -p "$work"
  log "building etcd v$ETCD_VERSION from the module proxy"
  (
    cd "$work"
    go mod init khook.local/envtest-etcd >/dev/null 2>&1
    cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    go mod edit -require="go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
    go mod tidy >/dev/null
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$assets/etcd" .
  )
  rm -rf "$work"
}

if [[ "${ENVTEST_TRY_DOWNLOAD:-1}" == "1" ]] && try_download; then
  log "downloaded with setup-envtest"
else
  log "setup-envtest download unavailable; building from source"
  [[ -x "$assets/etcd" ]] || build_etcd
  [[ -x "$assets/kube-apiserver" ]] || build_kube_apiserver
fi
"$assets/kube-apiserver" --version >&2
echo "$assets"
