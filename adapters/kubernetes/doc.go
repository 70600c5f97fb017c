// Package kubernetes is khook's Hook side of the Kubernetes API, through controller-runtime:
// what khook reads and writes about Hooks. (The event source that watches Pods and Events is
// package adapters/sources/kubernetes.)
//
//   - HookReconciler keeps the pipeline's hooks current as Hooks are created, changed and
//     deleted, restores each Hook's state from its investigations (read from the API server)
//     and its status, and writes its Accepted condition.
//   - InvestigationStore keeps each investigation as an Investigation resource in its Hook's
//     namespace, owned by the Hook, labelled with its UID: created (spec, then status), its
//     status then written over the resourceVersion last read (a conflict is ports.ErrConflict),
//     read and listed from the API server itself, deleted by retention.
//   - StatusWriter writes the Hook's status summary (activeEvents, counts) and conditions through
//     the status subresource, skipping writes that would change nothing and retrying conflicts.
//   - AuditRecorder records what happened as events.k8s.io/v1 Events regarding the Hook, one
//     Event per state change, related to the affected resource, written by its own bounded,
//     asynchronous writer (a manager Runnable): the pipeline never waits on the API server.
//   - SilenceReconciler (silences.go) keeps a SilenceRegistry (*volume.Silences) in step with
//     the Silence resources and says on each one's Active condition whether it holds incidents
//     now (Active, Pending, Expired) or why khook refused it (Invalid, TooManySilences);
//     SilenceStatusWriter counts the incidents each held on status.heldIncidents.
//   - The reconciler also reads each Namespace's annotation kagent.dev/allowed-agent-namespaces
//     (agentpolicy.go), from a metadata-only cache, into the Hooks of that namespace, and loads
//     them again when it changes: the agents a namespace's Hooks may call.
//   - convert.go converts between the Hook resource and the domain's values.
//
// RBAC the Hook side needs (the Helm chart grants exactly this, with the event source's in
// package adapters/sources/kubernetes):
//
//	kagent.dev        hooks            get list watch
//	kagent.dev        hooks/status     get update patch
//	kagent.dev        investigations   get list watch create delete
//	kagent.dev        investigations/status  get update
//	kagent.dev        silences         get list watch
//	kagent.dev        silences/status  get update patch
//	events.k8s.io     events           create patch                  (record audit)
//	""                namespaces       get list watch                (metadata: the agent allow-list annotation)
//	coordination.k8s.io leases         get list watch create update  (leader election)
package kubernetes
