// Package v1alpha2 contains the Hook custom resource, kagent.dev/v1alpha2.
//
// +kubebuilder:object:generate=true
// +groupName=kagent.dev
package v1alpha2
