package templating

// vkind is the dynamic type of a value. The interpreter needs only the types a sandboxed
// template can make: text/template would see them as string, bool, int, uint8 (a byte of a
// string), float64, map[string]string, Data, Subject and []string (.Resources or a slice of it).
type vkind uint8

const (
	vInvalid vkind = iota
	vString
	vBool
	vInt
	vByte
	vFloat
	vMap
	vData
	vSubject // the render's one subject: its fields are read from eventData
	vList    // .Resources[lo:hi:max], the bounds packed into n (listValue)
)

// typeName is the Go type a value of kind k has in text/template, for error messages and
// printf's %T.
func (k vkind) typeName() string {
	switch k {
	case vString:
		return "string"
	case vBool:
		return "bool"
	case vInt:
		return "int"
	case vByte:
		return "uint8"
	case vFloat:
		return "float64"
	case vMap:
		return "map[string]string"
	case vData:
		return "templating.Data"
	case vSubject:
		return "templating.Subject"
	case vList:
		return "[]string"
	}
	return "<nil>"
}

// value is one value of a running template.
type value struct {
	kind  vkind
	mapID mapID // vMap: which of Data's maps
	s     string
	n     int64 // vInt, vByte; vBool: 0 or 1; vList: its bounds
	f     float64
	m     map[string]string
}

func stringValue(s string) value { return value{kind: vString, s: s} }

// listValue is the list .Resources[lo:hi:max]. The render has only one list, so a value holds
// its bounds (each at most MaxResources) rather than a slice, and stays as small as the others.
func listValue(lo, hi, max int) value {
	return value{kind: vList, n: int64(lo) | int64(hi)<<8 | int64(max)<<16}
}

// MaxResources must fit the 8 bits listValue gives each bound.
const _ uint8 = MaxResources

// bounds returns the bounds of the list v.
func (v value) bounds() (lo, hi, max int) {
	return int(v.n & 0xff), int(v.n >> 8 & 0xff), int(v.n >> 16 & 0xff)
}

// len is the length of the list v.
func (v value) len() int {
	lo, hi, _ := v.bounds()
	return hi - lo
}

// list returns the names of the list v.
func (v value) list(d *eventData) []string {
	lo, hi, max := v.bounds()
	return d.resources()[lo:hi:max]
}
func intValue(n int) value { return value{kind: vInt, n: int64(n)} }

func boolValue(b bool) value {
	if b {
		return value{kind: vBool, n: 1}
	}
	return value{kind: vBool}
}

// truth is text/template's truth: not the zero value of its type; structs are always true.
func (v value) truth() bool {
	switch v.kind {
	case vString:
		return v.s != ""
	case vBool, vInt, vByte:
		return v.n != 0
	case vFloat:
		return v.f != 0
	case vMap:
		return len(v.m) > 0
	case vData, vSubject:
		return true
	case vList:
		return v.len() > 0
	}
	return false
}

// iface is the value as text/template would hand it to fmt.
func (v value) iface(d *eventData) any {
	switch v.kind {
	case vString:
		return v.s
	case vBool:
		return v.n != 0
	case vInt:
		return int(v.n)
	case vByte:
		return uint8(v.n)
	case vFloat:
		return v.f
	case vMap:
		return v.m
	case vData:
		return *d.data()
	case vSubject:
		return d.subject()
	case vList:
		return v.list(d)
	}
	return nil
}
