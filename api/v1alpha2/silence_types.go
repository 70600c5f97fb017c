package v1alpha2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SilenceSpec says which incidents start no investigation, and when.
// +kubebuilder:validation:XValidation:rule="self.endsAt > self.startsAt",message="endsAt must be after startsAt",fieldPath=".endsAt"
// +kubebuilder:validation:XValidation:rule="self.endsAt - self.startsAt <= duration('720h')",message="endsAt must be at most 30 days (720h) after startsAt",fieldPath=".endsAt"
type SilenceSpec struct {
	// Matchers say which incidents of this namespace's Hooks the Silence holds; every matcher
	// given must match. Required, but it may be empty ({}): a Silence that holds every
	// incident of the namespace's Hooks, e.g. for a maintenance of everything the team runs.
	Matchers SilenceMatchers `json:"matchers"`

	// StartsAt is when the Silence starts holding incidents.
	StartsAt metav1.Time `json:"startsAt"`

	// EndsAt is when it stops: after startsAt, at most 30 days later. An incident it held that
	// still fires then starts its investigation then.
	EndsAt metav1.Time `json:"endsAt"`

	// Comment says why, for whoever reads kubectl get silences.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Comment string `json:"comment,omitempty"`
}

// SilenceMatchers match an incident about to start an investigation. A glob's '*' matches any
// run of characters (none included); every other character matches itself. An empty or absent
// matcher matches anything.
type SilenceMatchers struct {
	// EventType is the incident's event type (pod-restart, alert-firing, ...), a glob.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9*-]*$`
	EventType string `json:"eventType,omitempty"`

	// Hook is the name of the Hook, a glob.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9.*-]*$`
	Hook string `json:"hook,omitempty"`

	// SubjectKind is the kind of the incident's subject (Deployment, StatefulSet, Node, Pod,
	// ...), a glob; letters are compared regardless of case.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9*]*$`
	SubjectKind string `json:"subjectKind,omitempty"`

	// SubjectName is the name of the incident's subject, a glob.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	SubjectName string `json:"subjectName,omitempty"`

	// Selector matches the labels of the resource that fired.
	// +optional
	Selector *LabelSelector `json:"selector,omitempty"`
}

// SilenceStatus is what the controller observed.
type SilenceStatus struct {
	// HeldIncidents counts the incidents this Silence kept from starting an investigation.
	// +optional
	HeldIncidents int64 `json:"heldIncidents"`

	// ObservedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Active says whether the Silence holds incidents now, and if not why not
	// (Pending: it has not started; Expired: it has ended; Refused: khook cannot apply it).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Silence keeps the matching incidents of its namespace's Hooks from starting investigations
// between startsAt and endsAt; a Silence in a cluster event namespace holds those of every
// cluster event namespace.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sil,categories=kagent
// +kubebuilder:printcolumn:name="Starts",type=string,JSONPath=`.spec.startsAt`
// +kubebuilder:printcolumn:name="Ends",type=string,JSONPath=`.spec.endsAt`
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.conditions[?(@.type=="Active")].status`
// +kubebuilder:printcolumn:name="Held",type=integer,JSONPath=`.status.heldIncidents`
// +kubebuilder:printcolumn:name="Comment",type=string,JSONPath=`.spec.comment`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Silence struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SilenceSpec   `json:"spec"`
	Status SilenceStatus `json:"status,omitempty"`
}

// SilenceList is a list of Silences.
// +kubebuilder:object:root=true
type SilenceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Silence `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Silence{}, &SilenceList{})
}
