package templating

import (
	"slices"
	"time"

	"github.com/khook-dev/khook/domain/event"
)

// Data is what a template sees: an event's fields and the incident it belongs to, sanitized. It
// has no methods (nor has Subject), so a template can reach nothing but these fields.
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
	// Subject is what the incident is about: a Deployment, a Node, the Pod itself.
	Subject Subject
	// Resources are the names of the incident's members, sorted, at most MaxResources of them.
	// ResourceName is the member whose event is rendered, which need not come first in this
	// order. Empty only when the event names no resource and the caller gives no names.
	Resources []string
	// ResourceCount is how many members the incident has, shown in Resources or not: at least 1
	// and at least len(Resources).
	ResourceCount int
}

// Subject is what an incident is about. It has no methods.
type Subject struct {
	Kind      string // e.g. "Deployment", "Node", "Pod"; empty when the source does not say
	Namespace string // empty for a cluster-scoped subject
	Name      string
}

// Group is the incident a rendered event belongs to: its subject and the resources of it that
// fired, as the caller knows them. The renderer trusts none of it: it sanitizes every name like
// event text, sorts them, drops duplicates and empty names, and shows at most MaxResources.
type Group struct {
	// Subject is the incident's subject; the zero Subject stands for the event's own resource.
	Subject Subject
	// Resources are the names of the members, in any order. None stands for the event's resource.
	Resources []string
	// ResourceCount is how many members there are, including those not listed in Resources;
	// the renderer raises it to at least 1 and to the number of names it shows.
	ResourceCount int
}

// Fields are the names a template may use after the dot, in the order of Data's fields.
var Fields = []string{"EventType", "ResourceName", "ResourceKind", "Namespace", "Reason", "Message",
	"Timestamp", "EventTime", "Source", "Metadata", "Severity", "Description", "Tags", "Subject", "Resources", "ResourceCount"}

// SubjectFields are the names a template may use after .Subject, in the order of Subject's fields.
var SubjectFields = []string{"Kind", "Namespace", "Name"}

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
	fSubject
	fResources
	fResourceCount
	noField fieldID = -1
	// numStrings is the size of an array indexed by the ids of Data's string fields.
	numStrings = fDescription + 1
)

func fieldByName(name string) fieldID {
	if i := slices.Index(Fields, name); i >= 0 {
		return fieldID(i)
	}
	return noField
}

// stringField reports whether Data's field id is a string.
func stringField(id fieldID) bool {
	switch id {
	case fMetadata, fTags, fSubject, fResources, fResourceCount, noField:
		return false
	}
	return true
}

// mapID tells which of Data's maps a map value is, to reuse its sorted keys.
type mapID uint8

const (
	metadataMap mapID = iota
	tagsMap
)

// DataFor builds the sanitized template data for e, as Render shows it: the incident of e's
// resource alone. Its maps and slice are new, which the caller may keep or change.
func DataFor(e event.Event) Data { return DataForGroup(e, Group{}) }

// DataForGroup builds the sanitized template data for e in the incident g, as RenderGroup shows
// it. Its maps and slice are new, which the caller may keep or change.
func DataForGroup(e event.Event, g Group) Data {
	var d eventData
	d.reset(&e, &g)
	full := *d.data()
	full.Metadata = SanitizeMetadata(e.Metadata)
	full.Tags = SanitizeMetadata(e.Tags)
	full.Resources = make([]string, len(full.Resources)) // its capacity is its length, as in a render
	copy(full.Resources, d.resources())
	return full
}

// dataFor builds Data whose maps and slice may be the event's and group's own (or emptyMap,
// emptyList): read-only.
func (d *eventData) dataFor() Data {
	e := &d.e
	ts := timestamp(e)
	meta, _ := sanitizeMap(e.Metadata)
	tags, _ := sanitizeMap(e.Tags)
	return Data{
		EventType:     Sanitize(string(e.Type)),
		ResourceName:  Sanitize(e.ResourceName),
		ResourceKind:  Sanitize(e.ResourceKind),
		Namespace:     Sanitize(e.Namespace),
		Reason:        Sanitize(e.Reason),
		Message:       Sanitize(e.Message),
		Timestamp:     ts,
		EventTime:     ts,
		Source:        Sanitize(e.Source),
		Metadata:      meta,
		Severity:      Sanitize(e.Severity),
		Description:   Sanitize(e.Description),
		Tags:          tags,
		Subject:       d.subject(),
		Resources:     d.resources(),
		ResourceCount: d.resourceCount(),
	}
}

func timestamp(e *event.Event) string { return e.Timestamp.UTC().Format(time.RFC3339) }

// eventData gives a render the fields of Data it uses, sanitizing each on first use only.
type eventData struct {
	e       event.Event
	g       Group // the zero Group unless grouped
	grouped bool
	have    uint32 // bit i: strs[i] (or maps, sub, list and count) holds field i
	strs    [numStrings]string
	maps    [2]map[string]string
	keys    [2][]string // sorted keys of maps, once a range needs them
	kept    [2]bool     // keys[i] is filled
	sub     Subject
	// list is what the template sees as .Resources: g.Resources itself when it is already clean,
	// sorted and short, else a slice of names. Its capacity is its length.
	list  []string
	names [MaxResources]string
	count int
	full  *Data // the whole Data, once a template prints or formats it
}

// reset makes d the data of e in the incident g; a nil g is the incident of e's resource alone.
// d is new or has had its incident dropped (dropIncident).
func (d *eventData) reset(e *event.Event, g *Group) {
	d.e = *e
	if g != nil {
		d.g, d.grouped = *g, true
	}
	d.have = 0
	d.strs = [numStrings]string{}
	d.maps = [2]map[string]string{}
	for i := range d.keys {
		clear(d.keys[i][:cap(d.keys[i])]) // keep no strings of an earlier event alive
		d.keys[i] = d.keys[i][:0]
	}
	d.kept = [2]bool{}
	d.full = nil
}

// dropIncident lets go of the incident: the caller's group, and the subject and names made of
// it, which it marks not computed.
func (d *eventData) dropIncident() {
	if d.grouped {
		d.g, d.grouped = Group{}, false
	}
	if d.have&(1<<fSubject) != 0 {
		d.sub = Subject{}
	}
	if d.have&(1<<fResources) != 0 {
		clear(d.names[:])
		d.list = nil
	}
	d.have &^= 1<<fSubject | 1<<fResources
}

// field returns Data's field id as a value.
func (d *eventData) field(id fieldID) value {
	switch id {
	case fMetadata:
		return value{kind: vMap, m: d.mapOf(metadataMap), mapID: metadataMap}
	case fTags:
		return value{kind: vMap, m: d.mapOf(tagsMap), mapID: tagsMap}
	case fSubject:
		return value{kind: vSubject}
	case fResources:
		n := len(d.resources())
		return listValue(0, n, n)
	case fResourceCount:
		return intValue(d.resourceCount())
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

// subject returns the incident's subject, sanitized: the group's, or the event's resource when
// the group has none.
func (d *eventData) subject() Subject {
	if d.have&(1<<fSubject) == 0 {
		if g := d.g.Subject; g != (Subject{}) {
			d.sub = Subject{Kind: Sanitize(g.Kind), Namespace: Sanitize(g.Namespace), Name: Sanitize(g.Name)}
		} else {
			d.sub = Subject{Kind: d.str(fResourceKind), Namespace: d.str(fNamespace), Name: d.str(fResourceName)}
		}
		d.have |= 1 << fSubject
	}
	return d.sub
}

// subjectField returns the field of the subject named name.
func (d *eventData) subjectField(name string) (string, bool) {
	s := d.subject()
	switch name {
	case "Kind":
		return s.Kind, true
	case "Namespace":
		return s.Namespace, true
	case "Name":
		return s.Name, true
	}
	return "", false
}

// resources returns the member names a template sees (see boundNames): the group's, or the
// event's resource when the group has none. Read-only.
func (d *eventData) resources() []string {
	if d.have&(1<<fResources) == 0 {
		d.list = boundNames(d.g.Resources, &d.names)
		if len(d.list) == 0 {
			if name := d.str(fResourceName); name != "" {
				d.names[0] = name
				d.list = d.names[:1:1]
			} else {
				d.list = emptyList
			}
		}
		d.count = max(d.g.ResourceCount, len(d.list), 1)
		d.have |= 1 << fResources
	}
	return d.list
}

// resourceCount returns the number of members: what the group says, but at least one and at
// least the names shown.
func (d *eventData) resourceCount() int {
	d.resources()
	return d.count
}

// data returns the whole Data.
func (d *eventData) data() *Data {
	if d.full == nil {
		full := d.dataFor()
		d.full = &full
	}
	return d.full
}
