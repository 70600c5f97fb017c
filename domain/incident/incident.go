package incident

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/hook"
)

// Subject is what an incident is about: a Pod, a Deployment, a Node, an alert.
type Subject struct {
	Kind      string // e.g. "Pod"; empty when the source does not know
	Namespace string // empty for a cluster-scoped subject
	Name      string
	// Fingerprint tells apart subjects of one name, such as alerts with other labels.
	Fingerprint string
}

// String renders the subject for people: "Pod apps/web-1", "Node n1", "Alert HighLatency (3f2a)".
func (s Subject) String() string {
	var b strings.Builder
	if s.Kind != "" {
		b.WriteString(s.Kind + " ")
	}
	if s.Namespace != "" {
		b.WriteString(s.Namespace + "/")
	}
	b.WriteString(s.Name)
	if s.Fingerprint != "" {
		b.WriteString(" (" + s.Fingerprint + ")")
	}
	return b.String()
}

// Key identifies an incident within a Hook: its event type and its subject.
type Key struct {
	Type    event.Type
	Subject Subject
}

// Describe renders the key for people: "pod-restart on Pod apps/web-1".
func (k Key) Describe() string { return string(k.Type) + " on " + k.Subject.String() }

// String renders the key as type/kind/namespace/name, followed by @fingerprint when there is one:
// a stable order for lists.
func (k Key) String() string {
	s := string(k.Type) + "/" + k.Subject.Kind + "/" + k.Subject.Namespace + "/" + k.Subject.Name
	if k.Subject.Fingerprint != "" {
		s += "@" + k.Subject.Fingerprint
	}
	return s
}

// KeyOf returns the key of the incident e belongs to when its Hook groups as g: its subject is
// the resource's workload (hook.ByWorkload), its Node (hook.ByNode), the values of g's labels
// (hook.ByLabels: a subject of kind Group named "label=value,…"), or the resource itself
// (hook.ByResource, and whenever e does not say what g asks for: a Pod without a controller, a
// Pod on no Node).
func KeyOf(e event.Event, g hook.Grouping) Key {
	k := Key{Type: e.Type, Subject: Subject{Kind: e.ResourceKind, Namespace: e.Namespace, Name: e.ResourceName, Fingerprint: e.Fingerprint}}
	switch g.By {
	case hook.ByWorkload:
		if e.Workload.Name != "" {
			k.Subject = Subject{Kind: e.Workload.Kind, Namespace: e.Namespace, Name: e.Workload.Name}
		}
	case hook.ByNode:
		if e.Node != "" {
			k.Subject = Subject{Kind: "Node", Name: e.Node}
		}
	case hook.ByLabels:
		if len(g.Labels) > 0 {
			k.Subject = Subject{Kind: GroupKind, Namespace: e.Namespace, Name: labelsName(e, g.Labels)}
		}
	}
	return k
}

// GroupKind is the kind of a subject named by labels.
const GroupKind = "Group"

// labelsName names a group by the values of labels, read from e's metadata (an alert's labels)
// or its tags: "alertname=HighLatency,service=cart". A name longer than a Kubernetes name is cut
// and suffixed with a hash of the whole, so that groups stay apart.
func labelsName(e event.Event, labels []string) string {
	var b strings.Builder
	for i, l := range labels {
		if i > 0 {
			b.WriteByte(',')
		}
		v, ok := e.Metadata[l]
		if !ok {
			v = e.Tags[l]
		}
		b.WriteString(l + "=" + v)
	}
	name := b.String()
	if len(name) <= event.MaxResourceNameLength {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := "-" + hex.EncodeToString(sum[:8])
	return strings.ToValidUTF8(name[:event.MaxResourceNameLength-len(suffix)], "") + suffix
}

// InvestigationName names the investigation of the incident key of Hook hookName (UID hookUID)
// that started at startedAt: the Hook's name (cut) and the first 10 bytes of a SHA-256 of the
// UID, the key and the start (in seconds), in hex. A retry, a restart or a new leader computes
// the same name, so an investigation is never created twice; the next incident of the same
// subject, or a Hook recreated under the same name, gets another. At most 63 characters.
func InvestigationName(hookName, hookUID string, k Key, startedAt time.Time) string {
	sum := sha256.Sum256([]byte(hookUID + "|" + k.String() + "|" + strconv.FormatInt(startedAt.Unix(), 10)))
	suffix := hex.EncodeToString(sum[:10])
	prefix := strings.Trim(cut(hookName, 63-len(suffix)-1), "-.")
	if prefix == "" {
		return suffix
	}
	return prefix + "-" + suffix
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] // a Hook's name is a DNS subdomain: ASCII
}
