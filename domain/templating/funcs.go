package templating

import (
	"fmt"
	"strconv"
	"strings"
)

// Functions are the functions a template may call: text/template's harmless built-ins plus a
// few string helpers. They behave as in text/template; print, printf and println are bounded
// (see MaxFormatWidth and MaxProducedBytes).
var Functions = []string{"and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index", "slice", "print", "printf", "println", "upper", "lower", "trimSpace", "truncate", "quote"}

type funcID uint8

// The functions, in the order of Functions.
const (
	fnAnd funcID = iota
	fnOr
	fnNot
	fnEq
	fnNe
	fnLt
	fnLe
	fnGt
	fnGe
	fnLen
	fnIndex
	fnSlice
	fnPrint
	fnPrintf
	fnPrintln
	fnUpper
	fnLower
	fnTrimSpace
	fnTruncate
	fnQuote
)

// paramKind is what a parameter accepts: any value (text/template's any or reflect.Value), or a
// value of exactly type string or int.
type paramKind uint8

const (
	pAny paramKind = iota
	pString
	pInt
)

func (p paramKind) String() string {
	switch p {
	case pString:
		return "string"
	case pInt:
		return "int"
	}
	return "any"
}

// signature is a function's parameters as text/template sees them. Variadic parameters accept
// any value.
type signature struct {
	fixed    []paramKind
	variadic bool
}

func (s signature) param(i int) paramKind {
	if i < len(s.fixed) {
		return s.fixed[i]
	}
	return pAny
}

var signatures = [...]signature{
	fnAnd:       {fixed: []paramKind{pAny}, variadic: true},
	fnOr:        {fixed: []paramKind{pAny}, variadic: true},
	fnNot:       {fixed: []paramKind{pAny}},
	fnEq:        {fixed: []paramKind{pAny}, variadic: true},
	fnNe:        {fixed: []paramKind{pAny, pAny}},
	fnLt:        {fixed: []paramKind{pAny, pAny}},
	fnLe:        {fixed: []paramKind{pAny, pAny}},
	fnGt:        {fixed: []paramKind{pAny, pAny}},
	fnGe:        {fixed: []paramKind{pAny, pAny}},
	fnLen:       {fixed: []paramKind{pAny}},
	fnIndex:     {fixed: []paramKind{pAny}, variadic: true},
	fnSlice:     {fixed: []paramKind{pAny}, variadic: true},
	fnPrint:     {variadic: true},
	fnPrintf:    {fixed: []paramKind{pString}, variadic: true},
	fnPrintln:   {variadic: true},
	fnUpper:     {fixed: []paramKind{pString}},
	fnLower:     {fixed: []paramKind{pString}},
	fnTrimSpace: {fixed: []paramKind{pString}},
	fnTruncate:  {fixed: []paramKind{pInt, pString}},
	fnQuote:     {fixed: []paramKind{pString}},
}

func funcByName(name string) (funcID, bool) {
	for i, f := range Functions {
		if f == name {
			return funcID(i), true
		}
	}
	return 0, false
}

// truncate is the truncate helper: s cut to at most n bytes at a character boundary; s when n is
// negative.
func truncate(n int, s string) string {
	if n < 0 || len(s) <= n {
		return s
	}
	return truncateUTF8(s, n)
}

// The helpers as plain functions, for the differential test against text/template.
var helpers = map[string]any{
	"upper":     strings.ToUpper,
	"lower":     strings.ToLower,
	"trimSpace": strings.TrimSpace,
	"quote":     strconv.Quote,
	"truncate":  truncate,
}

// The comparison functions follow text/template's funcs.go: basic kinds, integers of either
// sign compared by value, and errors for everything else.

type basicKind uint8

const (
	invalidKind basicKind = iota
	boolKind
	intKind
	floatKind
	stringKind
	uintKind
)

func basic(v value) basicKind {
	switch v.kind {
	case vBool:
		return boolKind
	case vInt:
		return intKind
	case vByte:
		return uintKind
	case vFloat:
		return floatKind
	case vString:
		return stringKind
	}
	return invalidKind
}

var (
	errBadComparisonType = fmt.Errorf("invalid type for comparison")
	errNoComparison      = fmt.Errorf("missing argument for comparison")
)

func incompatible(a, b value) error {
	return fmt.Errorf("incompatible types for comparison: %s and %s", a.kind.typeName(), b.kind.typeName())
}

// eq reports whether a equals any of bs.
func eq(a value, bs ...value) (bool, error) {
	if len(bs) == 0 {
		return false, errNoComparison
	}
	k1 := basic(a)
	for _, b := range bs {
		k2 := basic(b)
		truth := false
		if k1 != k2 {
			switch {
			case k1 == intKind && k2 == uintKind:
				truth = a.n >= 0 && a.n == b.n
			case k1 == uintKind && k2 == intKind:
				truth = b.n >= 0 && a.n == b.n
			default:
				if a.kind != vInvalid && b.kind != vInvalid {
					return false, incompatible(a, b)
				}
			}
		} else {
			switch k1 {
			case boolKind, intKind, uintKind:
				truth = a.n == b.n
			case floatKind:
				truth = a.f == b.f
			case stringKind:
				truth = a.s == b.s
			default:
				// Maps, lists and Data (which holds them) are not comparable; our maps and lists
				// are never nil. Values of one Go kind (Data and Subject are structs) pass the
				// first check; then text/template compares with == when b's type is comparable:
				// Subject is, and a render has only one.
				switch {
				case a.kind == vInvalid || b.kind == vInvalid:
					truth = a.kind == b.kind
				case reflectKind(a) != reflectKind(b):
					return false, fmt.Errorf("non-comparable types %s and %s", a.kind.typeName(), b.kind.typeName())
				case b.kind == vSubject:
					truth = a.kind == vSubject
				default:
					return false, fmt.Errorf("non-comparable type %s", b.kind.typeName())
				}
			}
		}
		if truth {
			return true, nil
		}
	}
	return false, nil
}

// reflectKind tells apart the kinds of values that are not basic as reflect.Kind does.
func reflectKind(v value) vkind {
	if v.kind == vSubject {
		return vData // both structs
	}
	return v.kind
}

// lt reports whether a < b.
func lt(a, b value) (bool, error) {
	k1, k2 := basic(a), basic(b)
	if k1 == invalidKind || k2 == invalidKind {
		return false, errBadComparisonType
	}
	if k1 != k2 {
		switch {
		case k1 == intKind && k2 == uintKind:
			return a.n < 0 || a.n < b.n, nil
		case k1 == uintKind && k2 == intKind:
			return b.n >= 0 && a.n < b.n, nil
		}
		return false, incompatible(a, b)
	}
	switch k1 {
	case floatKind:
		return a.f < b.f, nil
	case intKind, uintKind:
		return a.n < b.n, nil
	case stringKind:
		return a.s < b.s, nil
	}
	return false, errBadComparisonType // bool
}

func le(a, b value) (bool, error) {
	if less, err := lt(a, b); less || err != nil {
		return less, err
	}
	return eq(a, b)
}

// length is len: of a string in bytes, of a map in keys, of a list in names.
func length(v value) (int, error) {
	switch v.kind {
	case vString:
		return len(v.s), nil
	case vMap:
		return len(v.m), nil
	case vList:
		return v.len(), nil
	}
	return 0, fmt.Errorf("len of type %s", v.kind.typeName())
}

// indexArg is text/template's indexArg: an integer in [0, limit].
func indexArg(v value, limit int) (int, error) {
	switch v.kind {
	case vInt, vByte:
	case vInvalid:
		return 0, fmt.Errorf("cannot index slice/array with nil")
	default:
		return 0, fmt.Errorf("cannot index slice/array with type %s", v.kind.typeName())
	}
	if v.n < 0 || v.n > int64(limit) {
		return 0, fmt.Errorf("index out of range: %d", v.n)
	}
	return int(v.n), nil
}

// index is index: item[i][j]…; a string gives a byte, a list a name, a map the value of a key
// or "".
func index(d *eventData, item value, indexes ...value) (value, error) {
	for _, ix := range indexes {
		switch item.kind {
		case vList:
			names := item.list(d)
			x, err := indexArg(ix, len(names))
			if err != nil {
				return value{}, err
			}
			if x == len(names) {
				return value{}, fmt.Errorf("reflect: slice index out of range")
			}
			item = stringValue(names[x])
		case vString:
			x, err := indexArg(ix, len(item.s))
			if err != nil {
				return value{}, err
			}
			if x == len(item.s) {
				return value{}, fmt.Errorf("reflect: string index out of range")
			}
			item = value{kind: vByte, n: int64(item.s[x])}
		case vMap:
			if ix.kind != vString {
				return value{}, fmt.Errorf("value has type %s; should be string", ix.kind.typeName())
			}
			item = stringValue(item.m[ix.s])
		default:
			return value{}, fmt.Errorf("can't index item of type %s", item.kind.typeName())
		}
	}
	return item, nil
}

// slice is slice: s[i:j] of a string, l[i:j] or l[i:j:k] of a list.
func slice(item value, indexes ...value) (value, error) {
	if len(indexes) > 3 {
		return value{}, fmt.Errorf("too many slice indexes: %d", len(indexes))
	}
	var length, capacity int
	switch item.kind {
	case vString:
		if len(indexes) == 3 {
			return value{}, fmt.Errorf("cannot 3-index slice a string")
		}
		length, capacity = len(item.s), len(item.s)
	case vList:
		lo, hi, max := item.bounds()
		length, capacity = hi-lo, max-lo
	default:
		return value{}, fmt.Errorf("can't slice item of type %s", item.kind.typeName())
	}
	idx := [3]int{0, length}
	for i, ix := range indexes {
		x, err := indexArg(ix, capacity)
		if err != nil {
			return value{}, err
		}
		idx[i] = x
	}
	if idx[0] > idx[1] {
		return value{}, fmt.Errorf("invalid slice index: %d > %d", idx[0], idx[1])
	}
	if item.kind == vString {
		return stringValue(item.s[idx[0]:idx[1]]), nil
	}
	lo, _, max := item.bounds()
	if len(indexes) < 3 {
		return listValue(lo+idx[0], lo+idx[1], max), nil
	}
	if idx[1] > idx[2] {
		return value{}, fmt.Errorf("invalid slice index: %d > %d", idx[1], idx[2])
	}
	return listValue(lo+idx[0], lo+idx[1], lo+idx[2]), nil
}
