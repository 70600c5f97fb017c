// Package v1alpha2 contains the Hook and Silence custom resources, kagent.dev/v1alpha2.
//
// +kubebuilder:object:generate=true
// +groupName=kagent.dev
package v1alpha2
