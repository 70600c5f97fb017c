package v1alpha2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// InvestigationSpec is what an investigation is about, fixed when it starts.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable"
type InvestigationSpec struct {
	// Hook is the Hook whose configuration started the investigation (in the same namespace).
	Hook HookReference `json:"hook"`
	// EventType is the type of trouble.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	EventType string `json:"eventType"`
	// Subject is what the investigation is about: the resource that fired (or, when the Hook
	// groups its firings, the workload, node or alert group they share).
	Subject Subject `json:"subject"`
	// GroupBy says how the Hook grouped the firings of this subject: resource (one
	// investigation per resource), workload, node or labels.
	// +optional
	// +kubebuilder:validation:Enum=resource;workload;node;labels
	GroupBy string `json:"groupBy,omitempty"`
	// StartedAt is when the subject's trouble started firing: with the Hook's UID and the
	// subject it names the investigation.
	StartedAt metav1.Time `json:"startedAt"`
	// Event is the occurrence that started it, as the prompt sees it.
	// +optional
	Event *EventSnapshot `json:"event,omitempty"`
}

// HookReference names a Hook of the same namespace.
type HookReference struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// UID tells this Hook apart from a deleted one of the same name.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	UID string `json:"uid,omitempty"`
}

// Subject is what an investigation is about.
type Subject struct {
	// Kind of the subject, e.g. Pod, Deployment, Node or Alert.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind,omitempty"`
	// Namespace of the subject; empty for a cluster-scoped one.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Fingerprint tells apart subjects of one name, such as alerts with other labels.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Fingerprint string `json:"fingerprint,omitempty"`
}

// InvestigationPhase is where an investigation stands, all its agents considered.
// +kubebuilder:validation:Enum=pending;working;completed;failed;input-required;lost;resolved;suppressed
type InvestigationPhase string

// InvestigationStatus is what became of an investigation.
type InvestigationStatus struct {
	// Phase: pending (no agent has taken it yet), working, completed, failed (the agents ran it
	// and it failed, was rejected, timed out, or could not be delivered), input-required (an
	// agent needs a person), lost (the agent lost the task), resolved (the trouble ended before
	// an agent was told), suppressed (khook started none: Reason says why).
	// +optional
	Phase InvestigationPhase `json:"phase,omitempty"`
	// Reason, when suppressed, says why: silenced, rate-limited, cooldown, inhibited or backlog;
	// Message says by what.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Reason string `json:"reason,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
	// Members are the resources of the subject that fired (at most 50 named; MemberCount counts
	// them all).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=253
	Members []string `json:"members,omitempty"`
	// +optional
	MemberCount int32 `json:"memberCount,omitempty"`
	// Agents lists the agents told, for kubectl get.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Agents string `json:"agents,omitempty"`
	// Summary is the start of the first agent's answer, for kubectl get.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Summary string `json:"summary,omitempty"`
	// Deliveries is one agent's line each: how it was told and what became of its task.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Deliveries []InvestigationDelivery `json:"deliveries,omitempty"`
	// LastSeen is the latest sighting of the trouble.
	// +optional
	LastSeen *metav1.Time `json:"lastSeen,omitempty"`
	// ResolvedAt is when the trouble ended: every member recovered or is gone.
	// +optional
	ResolvedAt *metav1.Time `json:"resolvedAt,omitempty"`
	// ResolvedReason says how: recovered, deleted or quiet.
	// +optional
	ResolvedReason ResolvedReason `json:"resolvedReason,omitempty"`
	// Conditions of the investigation.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// InvestigationDelivery is one agent's line of an investigation.
type InvestigationDelivery struct {
	Delivery `json:",inline"`
	// Prompt is the prompt the agent was sent (its first 4 KiB); PromptSHA256 the hash of the
	// whole.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Prompt string `json:"prompt,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=64
	PromptSHA256 string `json:"promptSHA256,omitempty"`
}

// Investigation is one investigation khook started (or chose not to start) for trouble a Hook
// matched: its subject, the agents told, and what they found. It lives in its Hook's namespace
// and is owned by it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=inv,categories=kagent
// +kubebuilder:printcolumn:name="Hook",type=string,JSONPath=`.spec.hook.name`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.eventType`
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.subject.kind`,priority=1
// +kubebuilder:printcolumn:name="Subject",type=string,JSONPath=`.spec.subject.name`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Agents",type=string,JSONPath=`.status.agents`
// +kubebuilder:printcolumn:name="Summary",type=string,JSONPath=`.status.summary`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Investigation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   InvestigationSpec   `json:"spec"`
	Status InvestigationStatus `json:"status,omitempty"`
}

// InvestigationList is a list of Investigations.
// +kubebuilder:object:root=true
type InvestigationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Investigation `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Investigation{}, &InvestigationList{})
}
