#!/usr/bin/env bash
# Installs the real control plane of the end-to-end tests (test/controlplane) into a versioned
# cache outside the clone and prints the directory to use as KHOOK_CONTROLPLANE_ASSETS:
#
#   etcd, kube-apiserver      the envtest cache's binaries (hack/envtest.sh builds them), linked
#   kube-scheduler,
#   kube-controller-manager   built from k8s.io/kubernetes v$KUBE_VERSION the way envtest.sh
#                             builds kube-apiserver (same throwaway module, so the Go build cache
#                             it filled is reused: ~3 min more once kube-apiserver is built)
#   kwok                      sigs.k8s.io/kwok v$KWOK_VERSION, the kubelet of fake Nodes
#   kwok-stage-crd.yaml       kwok's Stage CustomResourceDefinition, from the same module
#
# Everything comes from the Go module proxy; nothing prebuilt is downloaded. The cache lives next
# to the Go build cache and the envtest cache, so every clone on the same machine reuses it.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-1.37.1}"
KWOK_VERSION="${KWOK_VERSION:-0.8.0}"

here="$(cd "$(dirname "$0")" && pwd)"
cache_root="${CONTROLPLANE_CACHE:-$(go env GOCACHE)/../khook-controlplane}"
mkdir -p "$cache_root"
cache_root="$(cd "$cache_root" && pwd)"
assets="$cache_root/k8s-$KUBE_VERSION-kwok-$KWOK_VERSION"

log() { echo "controlplane: $*" >&2; }

# kube-apiserver and etcd: the envtest cache's (built there once, reused here).
envtest_assets="$(KUBE_VERSION="$KUBE_VERSION" "$here/envtest.sh")"

complete() {
  [[ -x "$assets/kube-scheduler" && -x "$assets/kube-controller-manager" && -x "$assets/kwok" &&
     -s "$assets/kwok-stage-crd.yaml" ]]
}

link_envtest() {
  ln -sfn "$envtest_assets/kube-apiserver" "$assets/kube-apiserver"
  ln -sfn "$envtest_assets/etcd" "$assets/etcd"
}

if complete; then
  link_envtest
  echo "$assets"
  exit 0
fi
mkdir -p "$assets"

# version_ldflags sets what `--version` prints, as envtest.sh does for kube-apiserver.
version_ldflags() {
  local major minor flags=""
  major="${KUBE_VERSION%%.*}"; minor="${KUBE_VERSION#*.}"; minor="${minor%%.*}"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  done
  echo "$flags"
}

build_kube() {
  local work="$cache_root/build-kube-$KUBE_VERSION"
  rm -rf "$work" && mkdir -p "$work/bin"
  log "building kube-scheduler and kube-controller-manager v$KUBE_VERSION from the module proxy" \
    "(~3 min once envtest's kube-apiserver is built, ~11 min and 2.7 GB RAM from an empty build cache)"
  (
    cd "$work"
    go mod init khook.local/controlplane-kube >/dev/null 2>&1
    go mod edit -require="k8s.io/kubernetes@v$KUBE_VERSION"
    # The module envtest.sh makes for kube-apiserver: k8s.io/kubernetes requires its staging
    # modules at v0.0.0 through replace directives a dependent module does not inherit, so each
    # is replaced with its published v0.x release. Same versions and flags as kube-apiserver's
    # build, so the packages they share come from the Go build cache.
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    local staging_version="v0.${KUBE_VERSION#1.}"
    grep -E '^\s*k8s\.io/[^ ]+ v0\.0\.0(\s|$)' "$gomod" | awk '{print $1}' | sort -u | while read -r mod; do
      go mod edit -replace="$mod=$mod@$staging_version"
    done
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
    go mod tidy >/dev/null
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w$(version_ldflags)" -o bin/ \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-controller-manager
  )
  mv "$work/bin/kube-scheduler" "$work/bin/kube-controller-manager" "$assets/"
  rm -rf "$work"
}

build_kwok() {
  local work="$cache_root/build-kwok-$KWOK_VERSION"
  rm -rf "$work" && mkdir -p "$work"
  log "building kwok v$KWOK_VERSION from the module proxy (~1-2 min)"
  # kwok's go.mod has no replace directives, so `go install module@version` builds it as released.
  CGO_ENABLED=0 GOBIN="$work" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
  mv "$work/kwok" "$assets/kwok"
  rm -rf "$work"
}

copy_kwok_crd() {
  local dir
  dir=$(cd "$cache_root" && go mod download -json "sigs.k8s.io/kwok@v$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  install -m 0644 "$dir/kustomize/crd/bases/kwok.x-k8s.io_stages.yaml" "$assets/kwok-stage-crd.yaml.tmp"
  mv "$assets/kwok-stage-crd.yaml.tmp" "$assets/kwok-stage-crd.yaml"
}

[[ -x "$assets/kube-scheduler" && -x "$assets/kube-controller-manager" ]] || build_kube
[[ -x "$assets/kwok" ]] || build_kwok
[[ -s "$assets/kwok-stage-crd.yaml" ]] || copy_kwok_crd
link_envtest
for bin in kube-apiserver kube-scheduler kube-controller-manager; do
  "$assets/$bin" --version >&2
done
"$assets/kwok" --version >&2
echo "$assets"
