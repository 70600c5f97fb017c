package event

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"
)

// Type names a kind of trouble, such as "pod-restart" or "alert-firing".
type Type string

// The event types the Kubernetes source provides.
const (
	PodRestart  Type = "pod-restart"
	PodPending  Type = "pod-pending"
	OOMKill     Type = "oom-kill"
	ProbeFailed Type = "probe-failed"
	// NodeNotReady: a Node's Ready condition has been False or Unknown for longer than a grace.
	NodeNotReady Type = "node-not-ready"
)

// KubernetesTypes lists the event types that the built-in Kubernetes source provides.
var KubernetesTypes = []Type{PodRestart, PodPending, OOMKill, ProbeFailed, NodeNotReady}

// typeFormat is the shape of every event type: lower-case words joined by dashes. The Hook CRD
// enforces the same pattern.
var typeFormat = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// MaxTypeLength is the longest event type accepted.
const MaxTypeLength = 63

// Validate reports whether t has the shape of an event type.
func (t Type) Validate() error {
	if len(t) > MaxTypeLength {
		return fmt.Errorf("event type %q is longer than %d characters", t, MaxTypeLength)
	}
	if !typeFormat.MatchString(string(t)) {
		return fmt.Errorf("event type %q is not lower-case words joined by dashes", t)
	}
	return nil
}

// Resolution says why trouble ended. The zero value means the event reports trouble.
type Resolution string

const (
	// Recovered: the resource shows it recovered, or the source says the alert resolved.
	Recovered Resolution = "recovered"
	// Deleted: the resource is gone.
	Deleted Resolution = "deleted"
	// Quiet: the trouble was not seen again for the dedup window. Package dedup decides this;
	// sources never send it.
	Quiet Resolution = "quiet"
)

// Event is one observation of trouble, or of its end, as a source reports it.
type Event struct {
	Type         Type
	ResourceKind string // e.g. "Pod"; empty when the source does not know
	ResourceName string
	// Namespace is the resource's namespace; empty for cluster-wide events such as an alert
	// without a namespace label.
	Namespace string
	Reason    string
	Message   string
	Timestamp time.Time
	Source    string            // which source reported it, e.g. "kubernetes"
	Metadata  map[string]string // source-specific detail, passed to the agent as context

	// Fingerprint, when set, tells apart troubles of the same type on the same resource name,
	// such as two alerts of one name with different labels: it is part of the dedup key.
	Fingerprint string
	// SourceType is the source's own name for this kind of event, such as an alert's name;
	// event mappings translate it into Type. Empty when the source reports Types directly.
	SourceType string
	// Severity, Description and Tags come from the event mapping (or the source): what the
	// operator says about this kind of event. Templates and agents see them.
	Severity    string
	Description string
	Tags        map[string]string

	// Resolution, when set, says the trouble of this event's key has ended: the event resolves
	// the firing instead of reporting trouble.
	Resolution Resolution

	// Workload is what runs the resource, for grouping the trouble of its Pods into one
	// incident: a Pod's controlling owner followed up the chain (a ReplicaSet's Deployment, a
	// Job's CronJob; a StatefulSet, a DaemonSet or any other controller as it is), in the
	// resource's namespace. Zero when the resource has none (a Pod without a controller is its
	// own subject) or the source does not know.
	Workload Workload
	// Node is the name of the Node the resource is on (a Pod's spec.nodeName), or the Node
	// itself for trouble of a Node; empty when none or unknown.
	Node string

	// Labels are the labels of the resource that fired: the Pod's, the Node's, an alert's. A
	// Hook's selectors match them (see SelectorLabels), whatever the grouping. nil means the
	// source does not say (a plugin's event, an event restored from a status); a source that
	// knows the resource has none sets an empty map (KnownLabels). The map is shared with the
	// source (the informer's Pod, the decoded alert) and read-only: nothing may write to it.
	Labels map[string]string
}

// Workload names the object that runs a resource, such as Deployment "web", in the resource's
// namespace. The zero value means none.
type Workload struct {
	Kind string // e.g. "Deployment", "CronJob", "StatefulSet"
	Name string
}

// IsZero reports whether w names no workload.
func (w Workload) IsZero() bool { return w == Workload{} }

// String renders w as kind/name, or "" when it is zero.
func (w Workload) String() string {
	if w.IsZero() {
		return ""
	}
	return w.Kind + "/" + w.Name
}

// SelectorLabels are the labels a Hook's selector matches e on: Labels when the source set them
// (not nil, even when empty), else Metadata, so that a plugin's event offers its metadata as
// its labels. It allocates nothing; the map is shared and read-only.
func (e Event) SelectorLabels() map[string]string {
	if e.Labels != nil {
		return e.Labels
	}
	return e.Metadata
}

// noLabels is what KnownLabels gives a resource without labels: read-only, like every Labels.
var noLabels = map[string]string{}

// KnownLabels returns m, the labels of a resource the source knows, as an event's Labels: m
// itself (not copied), or an empty map when m is nil, so that SelectorLabels does not take
// Metadata for the labels of a resource that has none.
func KnownLabels(m map[string]string) map[string]string {
	if m == nil {
		return noLabels
	}
	return m
}

// Resolves reports whether e ends trouble rather than reporting it.
func (e Event) Resolves() bool { return e.Resolution != "" }

// Key identifies "the same trouble": the same event type on the same resource (and, for
// sources that fingerprint their events, the same fingerprint).
type Key struct {
	Type         Type
	Namespace    string
	ResourceName string
	Fingerprint  string
}

// Key returns the dedup key of e.
func (e Event) Key() Key {
	return Key{Type: e.Type, Namespace: e.Namespace, ResourceName: e.ResourceName, Fingerprint: e.Fingerprint}
}

// Describe renders the key for people: "pod-restart on shop/cart-1", with the fingerprint in
// parentheses when there is one.
func (k Key) Describe() string {
	s := string(k.Type) + " on " + k.ResourceName
	if k.Namespace != "" {
		s = string(k.Type) + " on " + k.Namespace + "/" + k.ResourceName
	}
	if k.Fingerprint != "" {
		s += " (" + k.Fingerprint + ")"
	}
	return s
}

// String renders the key as type/namespace/name (or type//name without a namespace), followed
// by @fingerprint when there is one.
func (k Key) String() string {
	s := string(k.Type) + "/" + k.Namespace + "/" + k.ResourceName
	if k.Fingerprint != "" {
		s += "@" + k.Fingerprint
	}
	return s
}

// Bounds of a key's parts: what Kubernetes allows a namespace and an object name, and what the
// Hook CRD allows a fingerprint. Sources may send longer ones (an alert's labels are anything).
const (
	MaxNamespaceLength    = 63
	MaxResourceNameLength = 253
	MaxFingerprintLength  = 128
)

// KeyFits reports whether every part of e's key is within its bound.
func (e Event) KeyFits() bool {
	return len(e.Namespace) <= MaxNamespaceLength && len(e.ResourceName) <= MaxResourceNameLength && len(e.Fingerprint) <= MaxFingerprintLength
}

// WithKeyBounded returns e with each part of its key that is too long replaced by its start and
// a hash of the whole, so that distinct keys stay distinct and every part fits where khook writes
// it (a Hook's status, an Event, a label).
func (e Event) WithKeyBounded() Event {
	e.Namespace = bounded(e.Namespace, MaxNamespaceLength)
	e.ResourceName = bounded(e.ResourceName, MaxResourceNameLength)
	e.Fingerprint = bounded(e.Fingerprint, MaxFingerprintLength)
	return e
}

// bounded returns s if it fits n bytes, else its start and "-" and the first 16 hex digits of
// its SHA-256, n bytes in all (the start cut on a UTF-8 boundary).
func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	suffix := "-" + hex.EncodeToString(sum[:8])
	keep := n - len(suffix)
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + suffix
}
