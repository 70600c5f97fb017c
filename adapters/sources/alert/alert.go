package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"time"

	"github.com/khook-dev/khook/domain/event"
)

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

// Event returns the firing event of a from source with type typ:
//
//	SourceType, Reason  the alertname label
//	Fingerprint         a's fingerprint (the dedup key tells alerts of one name apart)
//	Namespace           the namespace label; without one the event is cluster-wide
//	ResourceName        the pod label, else the alertname, else the fingerprint
//	ResourceKind        "Pod" with a pod label, else "Alert"
//	Severity            the severity label
//	Message             the summary annotation, else description, else "<alertname> is firing"
//	Description         the description annotation
//	Timestamp           StartsAt
//	Metadata            every label and annotation (a label wins over an annotation of its name)
//
// Event mappings may then change Type, Severity, Description and Tags.
func (a Alert) Event(source string, typ event.Type) event.Event {
	name := a.Labels["alertname"]
	fp := a.Fingerprint
	if fp == "" {
		fp = Fingerprint(a.Labels)
	}
	e := event.Event{
		Type:         typ,
		ResourceKind: "Alert",
		ResourceName: name,
		Namespace:    a.Labels["namespace"],
		Reason:       name,
		Timestamp:    a.StartsAt,
		Source:       source,
		Fingerprint:  fp,
		SourceType:   name,
		Severity:     a.Labels["severity"],
		Description:  a.Annotations["description"],
		Metadata:     make(map[string]string, len(a.Labels)+len(a.Annotations)),
	}
	if pod := a.Labels["pod"]; pod != "" {
		e.ResourceName, e.ResourceKind = pod, "Pod"
	}
	if e.ResourceName == "" {
		e.ResourceName = fp
	}
	switch {
	case a.Annotations["summary"] != "":
		e.Message = a.Annotations["summary"]
	case a.Annotations["description"] != "":
		e.Message = a.Annotations["description"]
	case name != "":
		e.Message = name + " is firing"
	}
	for k, v := range a.Annotations {
		e.Metadata[k] = v
	}
	for k, v := range a.Labels {
		e.Metadata[k] = v
	}
	return e
}

// Resolved returns e as the event that ends its trouble: the same key, Resolution Recovered,
// at time at.
func Resolved(e event.Event, at time.Time) event.Event {
	e.Resolution = event.Recovered
	e.Timestamp = at
	return e
}
