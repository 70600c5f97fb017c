package v1alpha2

// LabelSelector selects resources by their labels. It is written exactly as a Kubernetes label
// selector (metav1.LabelSelector: matchLabels, matchExpressions) and means the same; unlike
// metav1.LabelSelector it carries the bounds the API server enforces here, so that a mistake is
// refused when the object is applied, naming the field: at most 32 matchLabels and 32
// matchExpressions of at most 64 values each, the operators In, NotIn, Exists and DoesNotExist,
// keys and values shaped as Kubernetes labels. An empty selector selects everything.
// +structType=atomic
type LabelSelector struct {
	// MatchLabels: each key must have this value. Keys are label keys (an optional DNS
	// subdomain prefix and '/', then a name of at most 63 characters).
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="each key must be a label key: an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
	MatchLabels map[string]LabelValue `json:"matchLabels,omitempty"`
	// MatchExpressions: each requirement must hold.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelValue is the value of a label: empty, or at most 63 letters, digits, '-', '_' and '.',
// starting and ending with a letter or digit.
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`
type LabelValue string

// LabelSelectorOperator relates a label to a requirement's values.
// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist
type LabelSelectorOperator string

// The operators of a LabelSelectorRequirement.
const (
	LabelSelectorOpIn           LabelSelectorOperator = "In"
	LabelSelectorOpNotIn        LabelSelectorOperator = "NotIn"
	LabelSelectorOpExists       LabelSelectorOperator = "Exists"
	LabelSelectorOpDoesNotExist LabelSelectorOperator = "DoesNotExist"
)

// LabelSelectorRequirement relates the label key to values: In (the label has one of the
// values), NotIn (the label is missing or has none of them), Exists (the label is there, any
// value), DoesNotExist (the label is missing). In and NotIn need values; Exists and
// DoesNotExist take none.
// +kubebuilder:validation:XValidation:rule="(self.operator == 'In' || self.operator == 'NotIn') == (has(self.values) && size(self.values) > 0)",message="values must be given for In and NotIn, and left out for Exists and DoesNotExist"
type LabelSelectorRequirement struct {
	// Key is a label key: an optional DNS subdomain prefix and '/', then at most 63 letters,
	// digits, '-', '_' and '.', starting and ending with a letter or digit.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`
	Key string `json:"key"`
	// Operator is In, NotIn, Exists or DoesNotExist.
	Operator LabelSelectorOperator `json:"operator"`
	// Values are the label values In and NotIn compare with.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Values []LabelValue `json:"values,omitempty"`
}
