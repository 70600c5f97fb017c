package v1alpha2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HookSpec says which events to react to and which agent to call for each.
type HookSpec struct {
	// EventConfigurations lists, per event type, the agent to call and the prompt to send.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	// +listType=atomic
	EventConfigurations []EventConfiguration `json:"eventConfigurations"`
}

// EventConfiguration maps one event type to an agent and a prompt. Give the agent either as
// agentRef or as agentId, not both.
// +kubebuilder:validation:XValidation:rule="has(self.agentRef) != has(self.agentId)",message="exactly one of agentRef or agentId must be set"
type EventConfiguration struct {
	// EventType is pod-restart, pod-pending, oom-kill, probe-failed, or a type an external
	// source provides (lower-case words joined by dashes, e.g. alert-firing).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`
	EventType string `json:"eventType"`

	// AgentRef names the Kagent agent to call; its namespace defaults to the Hook's.
	// +optional
	AgentRef *AgentReference `json:"agentRef,omitempty"`

	// AgentID names the agent as "name" or "namespace/name" (the original khook's spelling).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-.a-z0-9]*[a-z0-9])?$`
	AgentID string `json:"agentId,omitempty"`

	// Prompt is a Go template rendered with the event's fields; see the README for what it may
	// use. define, template, block and call are refused.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=10000
	// +kubebuilder:validation:XValidation:rule="!self.matches('\\\\{\\\\{-?\\\\s*(define|template|block)\\\\b')",message="prompt must not use define, template or block"
	// +kubebuilder:validation:XValidation:rule="!self.matches('\\\\{\\\\{[^}]*\\\\bcall\\\\b')",message="prompt must not use call"
	Prompt string `json:"prompt"`
}

// AgentReference names a Kagent agent.
type AgentReference struct {
	// Name of the agent.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Namespace of the agent; defaults to the Hook's namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// EventStatus is firing or resolved.
// +kubebuilder:validation:Enum=firing;resolved
type EventStatus string

const (
	EventFiring   EventStatus = "firing"
	EventResolved EventStatus = "resolved"
)

// ActiveEvent is one event key the Hook has seen recently.
type ActiveEvent struct {
	EventType string `json:"eventType"`
	// Namespace of the resource; empty for cluster-wide events.
	// +optional
	Namespace    string      `json:"namespace,omitempty"`
	ResourceName string      `json:"resourceName"`
	FirstSeen    metav1.Time `json:"firstSeen"`
	LastSeen     metav1.Time `json:"lastSeen"`
	Status       EventStatus `json:"status"`
	// NotifiedAt is when every configured agent had been told of this firing.
	// +optional
	NotifiedAt *metav1.Time `json:"notifiedAt,omitempty"`
	// LastNotifiedAt is the latest time an agent was told of this event key.
	// +optional
	LastNotifiedAt *metav1.Time `json:"lastNotifiedAt,omitempty"`
}

// HookStatus is what the controller observed and did.
type HookStatus struct {
	// ActiveEvents are the event keys seen within the dedup window, firing or resolved.
	// +optional
	// +listType=atomic
	ActiveEvents []ActiveEvent `json:"activeEvents,omitempty"`
	// FiringEvents counts the activeEvents that are firing (shown by kubectl get hooks).
	// +optional
	FiringEvents int32 `json:"firingEvents"`
	// LastUpdated is when the controller last wrote this status.
	// +optional
	LastUpdated *metav1.Time `json:"lastUpdated,omitempty"`
	// ObservedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Accepted says whether every event configuration is in use, and why not.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Hook calls a Kagent agent when trouble of the configured types happens in its namespace.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=hk,categories=kagent
// +kubebuilder:printcolumn:name="Event Types",type=string,JSONPath=`.spec.eventConfigurations[*].eventType`
// +kubebuilder:printcolumn:name="Firing",type=integer,JSONPath=`.status.firingEvents`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Last Updated",type=date,JSONPath=`.status.lastUpdated`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Hook struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   HookSpec   `json:"spec"`
	Status HookStatus `json:"status,omitempty"`
}

// HookList is a list of Hooks.
// +kubebuilder:object:root=true
type HookList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Hook `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Hook{}, &HookList{})
}
