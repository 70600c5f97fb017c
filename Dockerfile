# The controller image the Helm chart runs. Build: docker build -t ghcr.io/khook-dev/khook:0.1.0 .
#
# The binary is built by hack/build.sh, as `make build` builds it: with cgo (Go plugins need
# it), hence dynamically linked against glibc. Build and runtime stages are both Debian 12
# (bookworm), so the glibc the binary was linked against is the one it runs with.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN ./hack/build.sh /out/khook

FROM gcr.io/distroless/base-debian12:nonroot
COPY --from=build /out/khook /khook
# Numeric, so that the kubelet can enforce runAsNonRoot (the chart sets it).
USER 65532:65532
ENTRYPOINT ["/khook"]
