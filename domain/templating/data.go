package templating

import (
	"slices"
	"time"

	"github.com/khook-dev/khook/domain/event"
)

// Data is what a template sees: an event's fields, sanitized. It has no methods, so a template
// can reach nothing but these fields.
type Data struct {
	EventType    string
	ResourceName string
	ResourceKind string
	Namespace    string
	Reason       string
	Message      string
	Timestamp    string // RFC 3339, UTC
	EventTime    string // the same as Timestamp: the original khook's name
	Source       string
	Metadata     map[string]string
	Severity     string
	Description  string
	Tags         map[string]string
}

// Fields are the names a template may use after the dot, in the order of Data's fields.
var Fields = []string{"EventType", "ResourceName", "ResourceKind", "Namespace", "Reason", "Message",
	"Timestamp", "EventTime", "Source", "Metadata", "Severity", "Description", "Tags"}

// fieldID numbers Data's fields, in the order of Fields.
type fieldID int8

const (
	fEventType fieldID = iota
	fResourceName
	fResourceKind
	fNamespace
	fReason
	fMessage
	fTimestamp
	fEventTime
	fSource
	fMetadata
	fSeverity
	fDescription
	fTags
	numFields
	noField fieldID = -1
)

func fieldByName(name string) fieldID {
	if i := slices.Index(Fields, name); i >= 0 {
		return fieldID(i)
	}
	return noField
}

// mapID tells which of Data's maps a map value is, to reuse its sorted keys.
type mapID uint8

const (
	metadataMap mapID = iota
	tagsMap
)

// DataFor builds the sanitized template data for e. Its maps are new maps, which the caller may
// keep or change.
func DataFor(e event.Event) Data {
	d := dataFor(&e)
	d.Metadata = SanitizeMetadata(e.Metadata)
	d.Tags = SanitizeMetadata(e.Tags)
	return d
}

// dataFor builds Data whose maps may be the event's own (or emptyMap): read-only.
func dataFor(e *event.Event) Data {
	ts := timestamp(e)
	meta, _ := sanitizeMap(e.Metadata)
	tags, _ := sanitizeMap(e.Tags)
	return Data{
		EventType:    Sanitize(string(e.Type)),
		ResourceName: Sanitize(e.ResourceName),
		ResourceKind: Sanitize(e.ResourceKind),
		Namespace:    Sanitize(e.Namespace),
		Reason:       Sanitize(e.Reason),
		Message:      Sanitize(e.Message),
		Timestamp:    ts,
		EventTime:    ts,
		Source:       Sanitize(e.Source),
		Metadata:     meta,
		Severity:     Sanitize(e.Severity),
		Description:  Sanitize(e.Description),
		Tags:         tags,
	}
}

func timestamp(e *event.Event) string { return e.Timestamp.UTC().Format(time.RFC3339) }

// eventData gives a render the fields of Data it uses, sanitizing each on first use only.
type eventData struct {
	e    event.Event
	have uint32 // bit i: strs[i] (or maps) holds field i
	strs [numFields]string
	maps [2]map[string]string
	keys [2][]string // sorted keys of maps, once a range needs them
	kept [2]bool     // keys[i] is filled
	full *Data       // the whole Data, once a template prints or formats it
}

func (d *eventData) reset(e *event.Event) {
	d.e = *e
	d.have = 0
	d.strs = [numFields]string{}
	d.maps = [2]map[string]string{}
	for i := range d.keys {
		clear(d.keys[i][:cap(d.keys[i])]) // keep no strings of an earlier event alive
		d.keys[i] = d.keys[i][:0]
	}
	d.kept = [2]bool{}
	d.full = nil
}

// field returns Data's field id as a value.
func (d *eventData) field(id fieldID) value {
	switch id {
	case fMetadata:
		return value{kind: vMap, m: d.mapOf(metadataMap), mapID: metadataMap}
	case fTags:
		return value{kind: vMap, m: d.mapOf(tagsMap), mapID: tagsMap}
	}
	return value{kind: vString, s: d.str(id)}
}

func (d *eventData) str(id fieldID) string {
	if d.have&(1<<id) != 0 {
		return d.strs[id]
	}
	var s string
	switch id {
	case fEventType:
		s = Sanitize(string(d.e.Type))
	case fResourceName:
		s = Sanitize(d.e.ResourceName)
	case fResourceKind:
		s = Sanitize(d.e.ResourceKind)
	case fNamespace:
		s = Sanitize(d.e.Namespace)
	case fReason:
		s = Sanitize(d.e.Reason)
	case fMessage:
		s = Sanitize(d.e.Message)
	case fTimestamp, fEventTime:
		s = timestamp(&d.e)
		d.strs[fTimestamp], d.strs[fEventTime] = s, s
		d.have |= 1<<fTimestamp | 1<<fEventTime
		return s
	case fSource:
		s = Sanitize(d.e.Source)
	case fSeverity:
		s = Sanitize(d.e.Severity)
	case fDescription:
		s = Sanitize(d.e.Description)
	}
	d.strs[id] = s
	d.have |= 1 << id
	return s
}

func (d *eventData) mapOf(which mapID) map[string]string {
	id := fMetadata
	raw := d.e.Metadata
	if which == tagsMap {
		id, raw = fTags, d.e.Tags
	}
	if d.have&(1<<id) == 0 {
		d.maps[which], _ = sanitizeMap(raw)
		d.have |= 1 << id
	}
	return d.maps[which]
}

// sortedKeys returns the keys of the map which, in the order range visits them.
func (d *eventData) sortedKeys(which mapID) []string {
	if !d.kept[which] {
		m := d.mapOf(which)
		keys := d.keys[which][:0]
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		d.keys[which], d.kept[which] = keys, true
	}
	return d.keys[which]
}

// data returns the whole Data.
func (d *eventData) data() *Data {
	if d.full == nil {
		full := dataFor(&d.e)
		d.full = &full
	}
	return d.full
}
