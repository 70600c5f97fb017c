# khook — every command a developer or CI needs. Tools are pinned in go.mod (`go get -tool`);
# the envtest control plane is built into a cache outside the clone by hack/envtest.sh, the real
# one of the end-to-end tests (scheduler, controller-manager, kwok) by hack/controlplane.sh.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
GENERATED := api/v1alpha2/zz_generated.deepcopy.go charts/khook/crds ports/mocks app/wire_gen.go

.PHONY: all
all: test

.PHONY: envtest
envtest: ## Build (or reuse) kube-apiserver and etcd for envtest and print their directory.
	@./hack/envtest.sh

.PHONY: controlplane
controlplane: ## Build (or reuse) kube-scheduler, kube-controller-manager and kwok (and envtest's binaries) and print their directory.
	@./hack/controlplane.sh

.PHONY: generate
generate: ## Regenerate deepcopy, CRD YAML, mocks and wire_gen.go.
	$(GO) tool controller-gen object paths=./api/...
	$(GO) tool controller-gen crd paths=./api/... output:crd:dir=charts/khook/crds
	$(GO) generate ./ports/...
	cd app && $(GO) tool wire gen .

.PHONY: verify
verify: generate ## Fail if generated code is stale, code is unformatted, or go vet complains.
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
		echo "generated code is stale; run 'make generate' and commit:"; git status --porcelain -- $(GENERATED); exit 1; fi
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then \
		echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod verify

CHART_ALL_OPTIONS := test/testdata/chart/all-options.yaml

.PHONY: chart
chart: ## Lint and render the Helm chart with its defaults (bin/chart.yaml) and every option on (bin/chart-all.yaml).
	@helm=$$(./hack/helm.sh); \
	$$helm lint --strict charts/khook; \
	$$helm lint --strict charts/khook --namespace kagent -f $(CHART_ALL_OPTIONS); \
	mkdir -p bin; \
	$$helm template khook charts/khook --namespace kagent > bin/chart.yaml; \
	$$helm template khook charts/khook --namespace kagent -f $(CHART_ALL_OPTIONS) > bin/chart-all.yaml

.PHONY: docs-check
docs-check: chart ## Check docs/ against the code: flags, Helm values, metrics, Event reasons (part of make test).
	KHOOK_CHART_MANIFEST="$(CURDIR)/bin/chart.yaml" KHOOK_CHART_ALL_MANIFEST="$(CURDIR)/bin/chart-all.yaml" \
	$(GO) test -count=1 -run 'Reference|Schema|ChartsArguments|Troubleshooting|OperationsGuide|Dashboard' ./cmd/khook ./adapters/metrics

.PHONY: alerting
alerting: ## Install (or find) the real Alertmanager and Prometheus the source tests start; print their paths.
	@./hack/alerting.sh

.PHONY: test
test: verify chart alerting ## Every test, with the race detector, on a real API server, a real control plane and a real A2A server.
	@assets=$$(./hack/envtest.sh); controlplane=$$(./hack/controlplane.sh); \
	echo "KUBEBUILDER_ASSETS=$$assets KHOOK_CONTROLPLANE_ASSETS=$$controlplane"; \
	KUBEBUILDER_ASSETS="$$assets" KHOOK_CONTROLPLANE_ASSETS="$$controlplane" KHOOK_HELM="$$(./hack/helm.sh)" \
	KHOOK_CHART_MANIFEST="$(CURDIR)/bin/chart.yaml" KHOOK_CHART_ALL_MANIFEST="$(CURDIR)/bin/chart-all.yaml" \
	$(GO) test -race -count=1 -p $(TEST_PARALLELISM) $(SLOW_TEST_PACKAGES) $$($(GO) list ./... | grep -v $(foreach p,$(SLOW_TEST_PACKAGES),-e '$(patsubst ./%,%,$(p))$$'))

# The packages that take longest (real API servers and a control plane, mostly waiting on them)
# start first, and more packages run at once than there are cores: a warm make test is then
# about as long as the slowest package.
SLOW_TEST_PACKAGES := ./test/integration ./test/e2e ./test/controlplane ./cmd/khook
TEST_PARALLELISM ?= 4

.PHONY: demo
demo: ## Run khook end to end locally: control plane, echo agent, sample Hook and Event.
	@assets=$$(./hack/envtest.sh); KUBEBUILDER_ASSETS="$$assets" $(GO) run ./test/demo

.PHONY: bench
bench: ## Every figure of docs/benchmarks.md: domain hot paths and memory, informer heap, a storm's status writes, end to end and cold start.
	$(GO) test -run '^$$' -bench . -benchmem -count=5 ./domain/...
	@assets=$$(./hack/envtest.sh); export KUBEBUILDER_ASSETS="$$assets"; \
	$(GO) test -run '^$$' -bench Transform -benchmem -benchtime 50000x ./adapters/sources/kubernetes/; \
	KHOOK_INFORMER_MEMORY=1 $(GO) test -count=1 -run TestInformerMemory -v -timeout 30m ./adapters/sources/kubernetes/; \
	KHOOK_STORM_KEYS_PER_HOOK=100 $(GO) test -count=1 -run TestAnEventStorm -v -timeout 30m ./test/integration/; \
	$(GO) test -run '^$$' -bench EventToAgent -benchtime 300x -count=3 ./test/integration/; \
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./test/perf/

.PHONY: fuzz
fuzz: ## Fuzz the prompt renderer for a minute.
	$(GO) test ./domain/templating -run '^$$' -fuzz FuzzRender -fuzztime 60s

.PHONY: build
build: ## Build the controller binary into bin/ exactly as the Dockerfile does (hack/build.sh).
	./hack/build.sh bin/khook

.PHONY: help
help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "%-12s %s\n", $$1, $$2}'
