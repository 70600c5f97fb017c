// Package e2e runs khook's parts on a real control plane (package test/controlplane: etcd,
// kube-apiserver, kube-scheduler, kube-controller-manager and kwok as the kubelet of fake
// Nodes), where the controllers make the owner chains, the scheduler binds the Pods, kwok plays
// their trouble and the node lifecycle controller marks a Node whose kubelet stopped Unknown.
// Nothing a test checks is written by the test itself.
//
// The tests run the Kubernetes event source as khook runs it: on a cache with khook's options
// (app.CacheOptions), reading owners from the API server, with the real clock. They share one
// control plane started from TestMain and run one after the other (a test that stops kwok stops
// every Node's kubelet). They need KHOOK_CONTROLPLANE_ASSETS, which `make test` sets.
package e2e
