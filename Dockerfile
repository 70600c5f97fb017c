# The controller image the Helm chart runs. Build: docker build -t ghcr.io/khook-dev/khook:0.1.0 .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /khook ./cmd/khook

FROM gcr.io/distroless/static:nonroot
COPY --from=build /khook /khook
USER 65532:65532
ENTRYPOINT ["/khook"]
