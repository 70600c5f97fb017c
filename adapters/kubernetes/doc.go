// Package kubernetes connects khook to the Kubernetes API through controller-runtime.
//
//   - HookReconciler keeps the pipeline's hooks current as Hooks are created, changed and
//     deleted, restores each Hook's dedup state from its status, and writes its Accepted
//     condition.
//   - StatusWriter writes status.activeEvents and conditions through the status subresource,
//     skipping writes that would change nothing and retrying conflicts.
//   - AuditRecorder records what happened as events.k8s.io/v1 Events regarding the Hook, one
//     Event per state change, related to the affected resource, written by its own bounded,
//     asynchronous writer (a manager Runnable): the pipeline never waits on the API server.
//   - EventSource turns Pod status and Kubernetes Events into khook events, from the manager's
//     shared informers. Trouble a Pod shows fires while it holds and is resolved when the Pod
//     recovers or is deleted; the decisions are pure functions of (pod, now) in pods.go, and a
//     tracker (tracker.go) remembers what was reported. docs/kubernetes-detection.md has the
//     rules and the numbers.
//   - The reconciler also reads each Namespace's annotation kagent.dev/allowed-agent-namespaces
//     (agentpolicy.go), from a metadata-only cache, into the Hooks of that namespace, and loads
//     them again when it changes: the agents a namespace's Hooks may call.
//
// RBAC the controller needs (the Helm chart grants exactly this):
//
//	kagent.dev        hooks            get list watch
//	kagent.dev        hooks/status     get update patch
//	events.k8s.io     events           get list watch create patch   (watch sources, record audit)
//	""                pods             get list watch
//	""                namespaces       get list watch                (metadata: the agent allow-list annotation)
//	coordination.k8s.io leases         get list watch create update  (leader election)
//
// Events and Pods are watched cluster-wide through one informer each, and events in namespaces
// without Hooks are dropped before any work is done for them.
package kubernetes
