// Package kubernetes connects khook to the Kubernetes API through controller-runtime.
//
//   - HookReconciler keeps the pipeline's hooks current as Hooks are created, changed and
//     deleted, restores each Hook's dedup state from its status, and writes its Accepted
//     condition.
//   - StatusWriter writes status.activeEvents and conditions through the status subresource,
//     skipping writes that would change nothing and retrying conflicts.
//   - AuditRecorder records what happened as events.k8s.io Events on the Hook.
//   - EventSource turns Kubernetes Events and Pod status changes into khook events, from the
//     manager's shared informers.
//
// RBAC the controller needs (the Helm chart grants exactly this):
//
//	kagent.dev        hooks            get list watch
//	kagent.dev        hooks/status     get update patch
//	events.k8s.io     events           get list watch create patch   (watch sources, record audit)
//	""                pods             get list watch
//	coordination.k8s.io leases         get list watch create update  (leader election)
//
// Events and Pods are watched cluster-wide through one informer each, and events in namespaces
// without Hooks are dropped before any work is done for them.
package kubernetes
