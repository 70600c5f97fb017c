// Package kubernetes is the built-in event source "kubernetes": it turns Pod status, Node
// readiness and Kubernetes Events (events.k8s.io/v1) into khook events, from the manager's
// shared informers.
//
//   - EventSource (source.go) registers handlers on the Pod, Event and Node informers; one goroutine
//     owns what was reported. Trouble a Pod shows (pending, crash-looping) fires while it holds,
//     is re-asserted every third of the window so that silence never resolves it, and is
//     resolved when the Pod recovers or is deleted. Events report what only they carry (probe
//     failures, a Node's OOMKilling); an Event about an object of another namespace is dropped
//     and counted (SourceMetrics).
//   - The decisions are pure functions of (pod, now) in pods.go; a tracker (tracker.go)
//     remembers what was reported and turns a decision into a firing, a re-assertion or a
//     resolution. FromEvent maps an Event to a khook event.
//   - A Node whose Ready condition is False or Unknown for longer than a grace is
//     node-not-ready (nodes.go, the decision; nodetracker.go), cluster-wide trouble (no
//     namespace), resolved when the Node is Ready again or gone.
//   - Every event about a Pod names its node and its workload (event.Event's Node and
//     Workload): the Pod's controller, or for a ReplicaSet or a Job the controller of that
//     (a Deployment, a CronJob), read once with a metadata GET and kept, bounded (owners.go).
//   - The cache transforms (cache.go, CacheByObject) keep of each Pod, Event and Node only what
//     this package reads; app.CacheOptions gives them to the manager's cache.
//
// Its settings (pendingGracePeriod, restartRecoveryTime, nodeNotReadyGracePeriod, namespaces,
// eventTypes) are read with package adapters/sources/settings, like every source's;
// docs/sources.md lists them and docs/kubernetes-detection.md has the rules and the numbers.
//
// RBAC the source needs (the Helm chart grants it):
//
//	events.k8s.io     events           get list watch
//	""                pods             get list watch
//	""                nodes            get list watch
//	apps              replicasets      get
//	batch             jobs             get
//
// Events, Pods and Nodes are watched cluster-wide through one informer each, and events in
// namespaces without Hooks are dropped before any work is done for them. ReplicaSets and Jobs are
// not watched: the owner of the one a Pod in trouble names is read once (owners.go).
package kubernetes
