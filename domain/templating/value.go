package templating

// vkind is the dynamic type of a value. The interpreter needs only the types a sandboxed
// template can make: text/template would see them as string, bool, int, uint8 (a byte of a
// string), float64, map[string]string and Data.
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
	}
	return "<nil>"
}

// value is one value of a running template.
type value struct {
	kind  vkind
	mapID mapID // vMap: which of Data's maps
	s     string
	n     int64 // vInt, vByte; vBool: 0 or 1
	f     float64
	m     map[string]string
}

func stringValue(s string) value { return value{kind: vString, s: s} }
func intValue(n int) value       { return value{kind: vInt, n: int64(n)} }

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
	case vData:
		return true
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
	}
	return nil
}
