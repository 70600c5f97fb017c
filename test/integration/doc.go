// Package integration tests khook end to end on real parts: a real kube-apiserver and etcd
// (controller-runtime's envtest, started once from TestMain with the generated CRD) and a real
// A2A server (test/echoagent). `make test` builds the control plane binaries and sets
// KUBEBUILDER_ASSETS.
package integration
