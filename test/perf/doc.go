// Package perf holds khook's load benchmarks on real parts: a real kube-apiserver and etcd
// (controller-runtime's envtest, with the generated CRD), a real in-process A2A agent
// (test/echoagent) and khook wired by app.SetupWithManager on a controller-runtime manager, all
// timed with one monotonic clock in one process.
//
//   - BenchmarkEndToEnd: 100 Hooks (one per namespace, each with its own agent), a paced load
//     generator creating events.k8s.io/v1 Events at 200/s and at 1,000/s, each about a Pod of its
//     own (a new firing, exactly one Hook, exactly one agent request). In the same run it times a
//     bare client-go informer (creation → its add handler) and khook (creation → the agent has
//     the message), correlated by the Pod's name, and fails if any event is missing.
//   - BenchmarkColdStart: for N Hooks and M Events already in the API server, the time from the
//     manager's Start to (*app.Khook).Ready(), and on to every one of the M Events reaching the
//     agent, for a first start (Hooks new to khook) and a restart; each size runs on an
//     environment of its own.
//
// Both are benchmarks, so `go test ./...` (make test) compiles the package and runs nothing;
// they skip without KUBEBUILDER_ASSETS. `make bench` runs them:
//
//	KUBEBUILDER_ASSETS=$(./hack/envtest.sh) go test -run '^$' -bench . -benchtime 1x -timeout 60m ./test/perf/
//
// Each benchmark does a fixed amount of work whatever b.N is (it runs once with -benchtime 1x);
// it prints Markdown tables on stdout and reports the percentiles with b.ReportMetric. Set
// KHOOK_PERF_DURATION (a Go duration, default 20s) to change how long each rate is held,
// KHOOK_PERF_RATES (e.g. "200") to choose the rates, and KHOOK_PERF_COLD (e.g. "10x0,100x1000",
// Hooks x Events) to choose the cold-start sizes. The machine's load average and each process's
// CPU use are printed with the figures: on a shared machine they say how far to trust them.
// KHOOK_PERF_STATUS_DELAY runs a diagnostic experiment (see diagnose): it changes the run, never
// khook's code, to tell how much of khook's latency its status writes cost.
package perf
