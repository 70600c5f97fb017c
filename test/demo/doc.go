// Command demo runs khook end to end on this machine with nothing installed but Go: a local
// control plane (envtest's kube-apiserver and etcd), the built-in echo A2A agent standing in
// for Kagent, the controller, the README's sample Hook and a realistic crash-loop Event. It
// prints the prompt the agent received and the Hook's status, then exits. `make demo` runs it.
package main
