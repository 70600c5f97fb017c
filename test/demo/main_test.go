package main

import (
	"os"
	"testing"
)

// TestTheDemoRunsToItsEnd runs make demo's program, so that a change that breaks what the README
// promises a new user fails make test.
func TestTheDemoRunsToItsEnd(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test`, which builds kube-apiserver and etcd and sets it")
	}
	t.Chdir("../..") // the demo reads the CRDs and the sample Hook from the repository's root
	if err := run(); err != nil {
		t.Fatalf("the demo failed: %v", err)
	}
}
