package event

import (
	"slices"
	"unicode/utf8"
)

// Bounds of what an event may carry into khook, whichever source sent it: the dedup store keeps
// the latest occurrence of each key for about two windows, so an event's size is memory held.
// Prompts see at most 4 KiB of one value and 128 metadata keys (package templating), so nothing
// a prompt could use is lost.
const (
	MaxMessageBytes  = 4096 // the message
	MaxTextBytes     = 512  // the reason, kind, source, source type, severity, description and workload kind
	MaxMapEntries    = 64   // metadata, and tags, each
	MaxMapKeyBytes   = 128  // a metadata or tag key; longer ones are dropped
	MaxMapValueBytes = 1024 // a metadata or tag value
	MaxMapBytes      = 16 * 1024
)

// Bounds of an event's Labels. A key and a value are bounded as the API server bounds every
// object's labels (a DNS subdomain prefix of at most 253 bytes, '/', a name of at most 63; a
// value of at most 63), so a Kubernetes resource's labels always fit them; an alert's may not.
// The count and the bytes in all are khook's own: Pods have a handful of labels (a Deployment's
// four to ten, a few hundred bytes), and 64 labels or 8 KiB is more than a selector would name.
const (
	MaxLabels          = 64
	MaxLabelKeyBytes   = 253 + 1 + 63
	MaxLabelValueBytes = 63
	MaxLabelsBytes     = 8 * 1024
)

// LabelValueTooLong stands in Labels for a value longer than MaxLabelValueBytes (an alert's
// label may be anything). No selector can name such a value, and this one is not a valid label
// value, so no selector can match it either: In, NotIn, Exists and DoesNotExist answer on it as
// they would on the value it replaces.
const LabelValueTooLong = "<too long>"

// Fits reports whether e is within the bounds above (its key aside: see KeyFits). The workload's
// kind is a text (MaxTextBytes); its name and the node's are object names
// (MaxResourceNameLength); its labels are within the bounds of Labels (LabelsFit).
func (e Event) Fits() bool {
	return len(e.Message) <= MaxMessageBytes && len(e.Reason) <= MaxTextBytes && len(e.ResourceKind) <= MaxTextBytes &&
		len(e.Source) <= MaxTextBytes && len(e.SourceType) <= MaxTextBytes && len(e.Severity) <= MaxTextBytes &&
		len(e.Description) <= MaxTextBytes && len(e.Workload.Kind) <= MaxTextBytes &&
		len(e.Workload.Name) <= MaxResourceNameLength && len(e.Node) <= MaxResourceNameLength &&
		mapFits(e.Metadata) && mapFits(e.Tags) && LabelsFit(e.Labels)
}

// LabelsFit reports whether m is within the bounds of Labels (MaxLabels and the others).
func LabelsFit(m map[string]string) bool {
	if len(m) > MaxLabels {
		return false
	}
	total := 0
	for k, v := range m {
		if len(k) > MaxLabelKeyBytes || len(v) > MaxLabelValueBytes {
			return false
		}
		total += len(k) + len(v)
	}
	return total <= MaxLabelsBytes
}

// BoundedLabels returns m within the bounds of Labels: m itself when it fits, else a new map
// (m is not changed). A key longer than MaxLabelKeyBytes, which no selector can name, is
// dropped; a value longer than MaxLabelValueBytes is kept as LabelValueTooLong. Neither changes
// what any selector answers. Beyond MaxLabels labels or MaxLabelsBytes in all, the labels are
// kept by key in byte order, so that the same labels are always bounded alike and a selector
// answers the same on every repeat; one on a label left out answers as if it were absent.
func BoundedLabels(m map[string]string) map[string]string {
	if LabelsFit(m) {
		return m
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if len(k) <= MaxLabelKeyBytes {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make(map[string]string, min(len(keys), MaxLabels))
	total := 0
	for _, k := range keys {
		if len(out) == MaxLabels {
			break
		}
		v := m[k]
		if len(v) > MaxLabelValueBytes {
			v = LabelValueTooLong
		}
		if total+len(k)+len(v) > MaxLabelsBytes {
			continue
		}
		total += len(k) + len(v)
		out[k] = v
	}
	return out
}

func mapFits(m map[string]string) bool {
	if len(m) > MaxMapEntries {
		return false
	}
	total := 0
	for k, v := range m {
		if len(k) > MaxMapKeyBytes || len(v) > MaxMapValueBytes {
			return false
		}
		total += len(k) + len(v)
	}
	return total <= MaxMapBytes
}

// Bounded returns e within the bounds above: texts cut on a UTF-8 boundary (into copies, so the
// source's larger text is not kept alive), at most MaxMapEntries metadata and tags each (keys too
// long dropped, values cut, MaxMapBytes in all), and its labels as BoundedLabels leaves them.
// Which metadata and tag keys are kept when there are too many depends on map order; sources
// that care (the alert converter) bound their events themselves, keeping what prompts need
// first. The workload's and the node's names group trouble, so a name too long is bounded like a
// key's parts (its start and a hash of the whole, see WithKeyBounded): two long names stay two
// groups. An event that fits is returned as it is.
func (e Event) Bounded() Event {
	if e.Fits() {
		return e
	}
	e.Message = cutCopy(e.Message, MaxMessageBytes)
	for _, s := range []*string{&e.Reason, &e.ResourceKind, &e.Source, &e.SourceType, &e.Severity, &e.Description, &e.Workload.Kind} {
		*s = cutCopy(*s, MaxTextBytes)
	}
	e.Workload.Name = bounded(e.Workload.Name, MaxResourceNameLength)
	e.Node = bounded(e.Node, MaxResourceNameLength)
	e.Metadata = boundedMap(e.Metadata)
	e.Tags = boundedMap(e.Tags)
	e.Labels = BoundedLabels(e.Labels)
	return e
}

func boundedMap(m map[string]string) map[string]string {
	if mapFits(m) {
		return m
	}
	out := make(map[string]string, MaxMapEntries)
	total := 0
	for k, v := range m {
		if len(out) == MaxMapEntries {
			break
		}
		if len(k) > MaxMapKeyBytes {
			continue
		}
		v = cutCopy(v, MaxMapValueBytes)
		if total+len(k)+len(v) > MaxMapBytes {
			continue
		}
		total += len(k) + len(v)
		out[k] = v
	}
	return out
}

// cutCopy returns s cut to at most n bytes on a UTF-8 boundary, as a copy when it was cut.
func cutCopy(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return string([]byte(s[:n]))
}
