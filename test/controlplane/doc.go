// Package controlplane starts a real Kubernetes control plane for end-to-end tests: etcd and
// kube-apiserver (through controller-runtime's envtest), kube-controller-manager,
// kube-scheduler and kwok as the kubelet of fake Nodes, each a process of its own on free
// loopback ports with its own credentials, logs and temporary directory.
//
// Unlike plain envtest, things happen here as in a cluster: the controller-manager makes the
// owner chain (Deployment → ReplicaSet → Pod), the scheduler binds Pods and writes
// FailedScheduling Events, kwok runs the Pods on Nodes annotated for it (Running, Ready, or the
// trouble a test asks for: see Behaviour), and when kwok stops the node lifecycle controller
// marks its Nodes Unknown and writes NodeNotReady Events.
//
// The binaries come from KHOOK_CONTROLPLANE_ASSETS, the directory hack/controlplane.sh prints
// (`make test` builds it and sets the variable). Start it once per test package from TestMain
// with New, or per test with Start.
package controlplane
