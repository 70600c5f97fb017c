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

	// Limits bound how many investigations the Hook starts. None by default.
	// +optional
	Limits *HookLimits `json:"limits,omitempty"`
}

// HookLimits bound the investigations of one Hook: a budget per hour and a cooldown per subject.
type HookLimits struct {
	// MaxInvestigationsPerHour is the Hook's budget: a token bucket that holds this many
	// investigations and refills at this rate (10 lets 10 start at once, then one every 6
	// minutes). An incident that finds it empty starts no investigation and is recorded as
	// rate-limited. Absent: no budget.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxInvestigationsPerHour *int32 `json:"maxInvestigationsPerHour,omitempty"`

	// Cooldown is how long, after an investigation of a subject (a Deployment, a Node, a Pod)
	// ends, a new incident of the same subject starts none: a flapping workload is
	// investigated once per cooldown. A Go duration such as 30m or 1h30m ("d" is not a unit),
	// at most 168h (7 days). Absent or 0: no cooldown.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$') || duration(self) <= duration('168h')",message="cooldown must be at most 168h (7 days)"
	Cooldown *metav1.Duration `json:"cooldown,omitempty"`
}

// EventConfiguration maps one event type to an agent and a prompt. Give the agent either as
// agentRef or as agentId, not both.
// +kubebuilder:validation:XValidation:rule="has(self.agentRef) != has(self.agentId)",message="exactly one of agentRef or agentId must be set"
// +kubebuilder:validation:XValidation:rule="(has(self.groupBy) && self.groupBy == 'labels') == (has(self.groupLabels) && size(self.groupLabels) > 0)",message="groupLabels is required with groupBy: labels, and only with it"
type EventConfiguration struct {
	// EventType is pod-restart, pod-pending, oom-kill, probe-failed, node-not-ready, or a type
	// an external source provides (lower-case words joined by dashes, e.g. alert-firing).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`
	EventType string `json:"eventType"`

	// AgentRef names the Kagent agent to call; its namespace defaults to the Hook's.
	// +optional
	AgentRef *AgentReference `json:"agentRef,omitempty"`

	// AgentID names the agent as "name" or "namespace/name" (the original khook's spelling): the
	// namespace a DNS-1123 label of at most 63 characters, the name a DNS-1123 subdomain.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	AgentID string `json:"agentId,omitempty"`

	// Prompt is a Go template rendered with the event's fields; see the README for what it may
	// use. define, template, block and call are refused.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=10000
	// +kubebuilder:validation:XValidation:rule="!self.matches('\\\\{\\\\{-?\\\\s*(define|template|block)\\\\b')",message="prompt must not use define, template or block"
	// +kubebuilder:validation:XValidation:rule="!self.matches('\\\\{\\\\{[^}]*\\\\bcall\\\\b')",message="prompt must not use call"
	Prompt string `json:"prompt"`

	// Selector picks, by their labels, the resources whose trouble this configuration is about
	// (the Pod's or the Node's labels, an alert's labels, a plugin event's metadata): a
	// standard label selector (matchLabels, matchExpressions). Trouble of a resource it does
	// not match does not exist for this configuration. Absent: every resource.
	// +optional
	Selector *LabelSelector `json:"selector,omitempty"`

	// GroupBy says which firings make one incident, and so one investigation: workload (a
	// Pod's controlling owner followed up the chain: a Deployment, StatefulSet, DaemonSet,
	// CronJob, …; a Pod without one is its own), node (the Node the Pod runs on), resource (each
	// resource its own, as before incidents), or labels (the values of groupLabels). Default:
	// workload for the Pod event types, resource for the others (alerts are grouped by
	// Alertmanager already). Configurations of one event type must group alike.
	// +optional
	// +kubebuilder:validation:Enum=workload;node;resource;labels
	GroupBy string `json:"groupBy,omitempty"`

	// GroupLabels are the labels (an alert's, a plugin event's metadata, a resource's) whose
	// values name the subject when groupBy is labels.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=316
	GroupLabels []string `json:"groupLabels,omitempty"`

	// GroupWait is how long the first firing of a subject waits before its investigation is
	// sent, to gather the members that fire with it: a Go duration such as 10s or 2m, at most
	// 10m; 0 sends at once. Members that fire later join the incident and start nothing new.
	// Absent: 10s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$') || duration(self) <= duration('10m')",message="groupWait must be at most 10m"
	GroupWait *metav1.Duration `json:"groupWait,omitempty"`
}

// AgentReference names a Kagent agent. A Kagent agent is a Kubernetes object: its name is a
// DNS-1123 subdomain, its namespace a DNS-1123 label.
type AgentReference struct {
	// Name of the agent: lower-case letters, digits, '-' and '.', each part between dots
	// starting and ending with a letter or digit.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
	// Namespace of the agent (lower-case letters, digits and '-', starting and ending with a
	// letter or digit); empty or absent means the Hook's namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$`
	Namespace string `json:"namespace,omitempty"`
}

// EventStatus is firing or resolved.
// +kubebuilder:validation:Enum=firing;resolved
type EventStatus string

const (
	EventFiring   EventStatus = "firing"
	EventResolved EventStatus = "resolved"
)

// ResolvedReason says why an event stopped firing.
// +kubebuilder:validation:Enum=recovered;deleted;quiet
type ResolvedReason string

// ActiveEvent is one event key the Hook has seen recently: its current firing (or how it
// resolved) and the ledger of who was told.
type ActiveEvent struct {
	EventType string `json:"eventType"`
	// Namespace of the resource; empty for cluster-wide events.
	// +optional
	Namespace    string `json:"namespace,omitempty"`
	ResourceName string `json:"resourceName"`
	// Fingerprint tells apart troubles of one type on one resource name (alerts with other
	// labels).
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Fingerprint string      `json:"fingerprint,omitempty"`
	FirstSeen   metav1.Time `json:"firstSeen"`
	LastSeen    metav1.Time `json:"lastSeen"`
	Status      EventStatus `json:"status"`
	// ResolvedReason says why a resolved event ended: the resource recovered, was deleted, or
	// the trouble was not seen again for the dedup window (quiet).
	// +optional
	ResolvedReason ResolvedReason `json:"resolvedReason,omitempty"`
	// ResolvedAt is when the event resolved.
	// +optional
	ResolvedAt *metav1.Time `json:"resolvedAt,omitempty"`
	// Occurrences counts the sightings during this firing, the first included.
	// +optional
	Occurrences int64 `json:"occurrences,omitempty"`
	// NotifiedAt is when every configured agent had accepted this firing.
	// +optional
	NotifiedAt *metav1.Time `json:"notifiedAt,omitempty"`
	// LastNotifiedAt is when an agent last accepted this firing.
	// +optional
	LastNotifiedAt *metav1.Time `json:"lastNotifiedAt,omitempty"`
	// Investigation names the Investigation (in the Hook's namespace) of the incident this event
	// belongs to: its agents, their tasks and what they found are there.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Investigation string `json:"investigation,omitempty"`
	// Event is what the previous release kept of a firing's latest occurrence. This release
	// reads it once, when it moves the ledger to Investigations, and never writes it.
	// +optional
	Event *EventSnapshot `json:"event,omitempty"`
	// Deliveries is the ledger the previous release kept on the Hook. This release reads it once,
	// when it moves it to Investigations, and never writes it.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Deliveries []Delivery `json:"deliveries,omitempty"`
}

// InvestigationCounts counts a Hook's investigations by phase.
type InvestigationCounts struct {
	// +optional
	Pending int32 `json:"pending,omitempty"`
	// +optional
	Working int32 `json:"working,omitempty"`
	// +optional
	Completed int32 `json:"completed,omitempty"`
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// +optional
	InputRequired int32 `json:"inputRequired,omitempty"`
	// +optional
	Lost int32 `json:"lost,omitempty"`
	// +optional
	Resolved int32 `json:"resolved,omitempty"`
	// Suppressed counts the incidents that started no investigation; SuppressedBy, by reason
	// (backlog, silenced, rate-limited, cooldown, inhibited).
	// +optional
	Suppressed int32 `json:"suppressed,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxProperties=8
	SuppressedBy map[string]int32 `json:"suppressedBy,omitempty"`
}

// EventSnapshot is what a prompt is rendered from, beyond the event's key.
type EventSnapshot struct {
	// +optional
	ResourceKind string `json:"resourceKind,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Reason string `json:"reason,omitempty"`
	// Message is cut to 4096 bytes, the prompt renderer's limit for one value.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Message string `json:"message,omitempty"`
	// +optional
	Timestamp *metav1.Time `json:"timestamp,omitempty"`
	// +optional
	Source string `json:"source,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=512
	SourceType string `json:"sourceType,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Severity string `json:"severity,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Description string `json:"description,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Metadata map[string]string `json:"metadata,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Tags map[string]string `json:"tags,omitempty"`
	// Workload is what runs the resource (a Pod's Deployment, StatefulSet, CronJob…), when known.
	// +optional
	Workload *WorkloadReference `json:"workload,omitempty"`
	// Node is the Node the resource runs on (a Pod's), or the Node itself for a Node's trouble.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Node string `json:"node,omitempty"`
	// Labels are the labels of the resource that fired (what selectors and Silences match), as
	// far as the snapshot's size allows.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Labels map[string]string `json:"labels,omitempty"`
}

// WorkloadReference names the object that runs a resource, in the resource's namespace.
type WorkloadReference struct {
	// +kubebuilder:validation:MaxLength=512
	Kind string `json:"kind"`
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// DeliveryState is where telling one agent of one firing stands.
// +kubebuilder:validation:Enum=pending;sending;submitted;working;completed;failed;rejected;lost;canceled;input-required;auth-required;timed-out;undeliverable;unknown;abandoned
type DeliveryState string

// DeliveryCause says why a delivery is undeliverable, abandoned or waiting.
// +kubebuilder:validation:Enum=agent-not-found;agent-refused;retries-exhausted;prompt;configuration-refused;awaiting-event;firing-over;agent-dropped
type DeliveryCause string

// Delivery is one agent's line in the ledger of a firing.
type Delivery struct {
	// Agent is namespace/name.
	Agent string `json:"agent"`
	// MessageID is the A2A message id, the same for every attempt of this firing.
	MessageID string `json:"messageId"`
	// ContextID is the agent's conversation (Kagent session) the attempts continue.
	// +optional
	ContextID string `json:"contextId,omitempty"`
	// TaskID is the A2A task the latest accepted attempt started.
	// +optional
	TaskID string        `json:"taskId,omitempty"`
	State  DeliveryState `json:"state"`
	// Summary is the start of the task's final status message or artifact.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Summary string `json:"summary,omitempty"`
	// LastError says why the latest attempt failed.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	LastError string `json:"lastError,omitempty"`
	// Cause says why the delivery is undeliverable, abandoned or waiting: agent-not-found,
	// agent-refused, retries-exhausted, prompt (it cannot be rendered), configuration-refused
	// (waiting for the Hook's configuration to be fixed), awaiting-event (waiting for the event's
	// next sight after a restart), firing-over, agent-dropped.
	// +optional
	Cause DeliveryCause `json:"cause,omitempty"`
	// Attempts counts the sends of this firing to this agent.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// Reruns counts the times the agent was asked again after its task failed, was rejected or
	// was lost (--retry-failed-investigations).
	// +optional
	Reruns int32 `json:"reruns,omitempty"`
	// SentAt is when the agent accepted the latest attempt.
	// +optional
	SentAt *metav1.Time `json:"sentAt,omitempty"`
	// UpdatedAt is when State last changed.
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty"`
	// NextAttemptAt is when a pending delivery is tried again.
	// +optional
	NextAttemptAt *metav1.Time `json:"nextAttemptAt,omitempty"`
}

// HookStatus is what the controller observed and did.
type HookStatus struct {
	// ActiveEvents summarise the event keys seen within the dedup window, firing or resolved,
	// each naming its Investigation. At most 50 are shown (firing first, then resolved, the most
	// recent first), so that the status stays small whatever a storm does; omittedEvents counts
	// the rest.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=1000
	ActiveEvents []ActiveEvent `json:"activeEvents,omitempty"`
	// OmittedEvents counts the events khook holds but leaves out of activeEvents to keep the
	// object small.
	// +optional
	OmittedEvents int32 `json:"omittedEvents,omitempty"`
	// FiringEvents counts the events firing, shown or not (kubectl get hooks shows it).
	// +optional
	FiringEvents int32 `json:"firingEvents"`
	// Investigations counts the Hook's investigations khook holds, by phase (kubectl get
	// investigations lists them).
	// +optional
	Investigations *InvestigationCounts `json:"investigations,omitempty"`
	// LastUpdated is when the controller last wrote this status.
	// +optional
	LastUpdated *metav1.Time `json:"lastUpdated,omitempty"`
	// ObservedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Accepted says whether every event configuration is in use, and why not;
	// Delivering whether every firing reaches its agents, and which agent cannot be told why.
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
// +kubebuilder:printcolumn:name="Delivering",type=string,JSONPath=`.status.conditions[?(@.type=="Delivering")].status`
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
