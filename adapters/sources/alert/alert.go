package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/domain/templating"
)

// Bounds on what one alert carries into khook. An alert's labels and annotations come from
// whoever can reach a source (the webhook's sender, every rule of a Prometheus server); khook
// keeps an event per alert for about two dedup windows, so each is cut to these before it is
// kept.
const (
	// MaxMetadataKeys is how many labels and annotations together an event keeps: the CRD's
	// limit for an event snapshot's metadata, so that status keeps every one of them.
	MaxMetadataKeys = 64
	// MaxKeyBytes bounds a label or annotation name; a longer one is dropped, not cut (a cut
	// name would pass for another).
	MaxKeyBytes = 128
	// MaxLabelValueBytes bounds a label value.
	MaxLabelValueBytes = 1024
	// MaxAnnotationValueBytes bounds an annotation value: what a prompt sees of one value.
	MaxAnnotationValueBytes = templating.MaxValueBytes
	// MaxMetadataBytes bounds the names and values an event keeps, all together. Message and
	// Description share their text with the summary and description kept here.
	MaxMetadataBytes = 8 * 1024
	// MaxNameBytes bounds the alertname, namespace, pod and severity as the event's fields
	// (Reason, SourceType, Namespace, ResourceName, Severity); the CRD keeps 512 of them.
	MaxNameBytes = 512
	// MaxFingerprintLength is the longest fingerprint kept as given: the CRD's limit for
	// status.activeEvents[].fingerprint. A longer one is replaced by the hex SHA-256 of it.
	MaxFingerprintLength = 128
)

// priorityKeys are kept first when an alert carries more than the bounds allow: what prompts and
// khook's own fields need.
var priorityKeys = []string{"alertname", "namespace", "pod", "severity", "summary", "description", "runbook_url"}

// Alert is one alert as Alertmanager and Prometheus describe it.
type Alert struct {
	Labels      map[string]string
	Annotations map[string]string
	// StartsAt is when the alert started firing (Prometheus' activeAt).
	StartsAt time.Time
	// Fingerprint identifies the alert's label set; empty means compute it (Fingerprint).
	Fingerprint string
}

// Fingerprint is a stable identity of a label set: the first 16 hex digits of the SHA-256 of
// the labels sorted by name. Unlike Prometheus' in-memory hashes it is the same in every run
// and version, so it may be kept in a Hook's status.
func Fingerprint(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, k := range names {
		h.Write([]byte(k))
		h.Write([]byte{0xff})
		h.Write([]byte(labels[k]))
		h.Write([]byte{0xff})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// BoundedFingerprint returns fp when it fits the CRD (MaxFingerprintLength), and otherwise the
// hex SHA-256 of fp (64 characters): stable, and as distinct as fp was.
func BoundedFingerprint(fp string) string {
	if len(fp) <= MaxFingerprintLength {
		return fp
	}
	sum := sha256.Sum256([]byte(fp))
	return hex.EncodeToString(sum[:])
}

// Event returns the firing event of a from source with type typ:
//
//	SourceType, Reason  the alertname label
//	Fingerprint         a's fingerprint (the dedup key tells alerts of one name apart); one
//	                    longer than MaxFingerprintLength is replaced by its SHA-256
//	Namespace           the namespace label; without one the event is cluster-wide
//	ResourceName        the pod label, else the alertname, else the fingerprint
//	ResourceKind        "Pod" with a pod label, else "Alert"
//	Severity            the severity label
//	Message             the summary annotation, else description, else "<alertname> is firing"
//	Description         the description annotation
//	Timestamp           StartsAt
//	Metadata            the labels and annotations (a label wins over an annotation of its
//	                    name), within the bounds above: the priority keys (alertname,
//	                    namespace, pod, severity, summary, description, runbook_url) first,
//	                    then the other labels and the other annotations by name
//	Labels              the labels, for Hook selectors: a's own map (shared, not copied) when
//	                    it fits event.LabelsFit, else as event.BoundedLabels leaves them (a
//	                    value longer than a label value stands as event.LabelValueTooLong)
//
// Values are cut at a character boundary to the bounds above (and copied, so that a cut value
// does not hold the whole text it came from). Event mappings may then change Type, Severity,
// Description and Tags.
func (a Alert) Event(source string, typ event.Type) event.Event {
	fp := a.Fingerprint
	if fp == "" {
		fp = Fingerprint(a.Labels) // of every label, so that cutting them merges no two alerts
	}
	meta := a.metadata()
	name := field(a.Labels, meta, "alertname")
	e := event.Event{
		Type:         typ,
		ResourceKind: "Alert",
		ResourceName: name,
		Namespace:    field(a.Labels, meta, "namespace"),
		Reason:       name,
		Timestamp:    a.StartsAt,
		Source:       source,
		Fingerprint:  BoundedFingerprint(fp),
		SourceType:   name,
		Severity:     field(a.Labels, meta, "severity"),
		Description:  annotation(a, meta, "description"),
		Metadata:     meta,
		Labels:       event.BoundedLabels(event.KnownLabels(a.Labels)),
	}
	if pod := field(a.Labels, meta, "pod"); pod != "" {
		e.ResourceName, e.ResourceKind = pod, "Pod"
	}
	if e.ResourceName == "" {
		e.ResourceName = e.Fingerprint
	}
	switch {
	case a.Annotations["summary"] != "":
		e.Message = annotation(a, meta, "summary")
	case a.Annotations["description"] != "":
		e.Message = e.Description
	case name != "":
		e.Message = name + " is firing"
	}
	return e
}

// Fits reports whether a is within the bounds, so that Event keeps all of it.
func (a Alert) Fits() bool {
	if len(a.Fingerprint) > MaxFingerprintLength {
		return false
	}
	keys, total := 0, 0
	for k, v := range a.Labels {
		if len(k) > MaxKeyBytes || len(v) > MaxLabelValueBytes {
			return false
		}
		keys++
		total += len(k) + len(v)
	}
	for k, v := range a.Annotations {
		if _, shadowed := a.Labels[k]; shadowed {
			continue
		}
		if len(k) > MaxKeyBytes || len(v) > MaxAnnotationValueBytes {
			return false
		}
		keys++
		total += len(k) + len(v)
	}
	return keys <= MaxMetadataKeys && total <= MaxMetadataBytes
}

// metadata is the bounded union of a's labels and annotations (see Event).
func (a Alert) metadata() map[string]string {
	out := make(map[string]string, min(len(a.Labels)+len(a.Annotations), MaxMetadataKeys))
	budget := MaxMetadataBytes
	// add keeps k (from labels or annotations) if it is not kept yet and fits; a priority key
	// is cut to what is left of the budget, any other is kept whole (within its own bound) or
	// not at all.
	add := func(k string, priority bool) {
		if _, kept := out[k]; kept || len(out) >= MaxMetadataKeys || len(k) > MaxKeyBytes || len(k) >= budget {
			return
		}
		v, limit := a.Labels[k], MaxLabelValueBytes
		if _, isLabel := a.Labels[k]; !isLabel {
			v, limit = a.Annotations[k], MaxAnnotationValueBytes
		}
		if priority {
			limit = min(limit, budget-len(k))
		} else if len(k)+min(len(v), limit) > budget {
			return
		}
		v = cut(v, limit)
		out[k] = v
		budget -= len(k) + len(v)
	}
	for _, k := range priorityKeys {
		_, l := a.Labels[k]
		_, an := a.Annotations[k]
		if l || an {
			add(k, true)
		}
	}
	if len(out) < len(a.Labels)+len(a.Annotations) {
		for _, k := range sortedKeys(a.Labels) {
			add(k, false)
		}
		for _, k := range sortedKeys(a.Annotations) {
			add(k, false)
		}
	}
	return out
}

// field is label k as an event field: the value kept in the metadata when it is there (sharing
// its text), else the label cut to MaxNameBytes.
func field(labels, meta map[string]string, k string) string {
	if v, ok := meta[k]; ok && len(v) <= MaxNameBytes {
		return v
	}
	return cut(labels[k], MaxNameBytes)
}

// annotation is annotation k as an event field: the value kept in the metadata when it came
// from the annotation (sharing its text), else the annotation cut to MaxAnnotationValueBytes.
func annotation(a Alert, meta map[string]string, k string) string {
	v, ok := meta[k]
	if _, shadowed := a.Labels[k]; ok && !shadowed {
		return v
	}
	return cut(a.Annotations[k], MaxAnnotationValueBytes)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// cut returns s when it is at most n bytes long, and otherwise a copy of its longest prefix of
// at most n bytes that ends at a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	i := n
	for i > 0 && i > n-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	return string([]byte(s[:i])) // a copy: s[:i] would keep all of s alive
}

// Resolved returns e as the event that ends its trouble: the same key, Resolution Recovered,
// at time at.
func Resolved(e event.Event, at time.Time) event.Event {
	e.Resolution = event.Recovered
	e.Timestamp = at
	return e
}
