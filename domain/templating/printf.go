package templating

import (
	"fmt"
	"unicode/utf8"
)

// print, printf and println are fmt's, with two bounds: a format may not ask for a width or
// precision above MaxFormatWidth, for * (a width taken from an argument) or for %p (an address);
// and the render must have room in its produced-bytes budget for the longest text the call
// could make, computed before fmt runs. Within those bounds the output is fmt's own.

// formatProblem is why a printf format is refused.
type formatProblem string

// scanFormat walks format the way fmt.Sprintf walks it with nargs arguments (fmt/print.go,
// doPrintf). For each verb that prints an argument it calls each(arg, width, precision). It
// returns how many bytes fmt writes besides the arguments (literal text and its %!…(…) markers,
// which add to argBound's slack), the index from which arguments are appended as %!(EXTRA …)
// (nargs when none are), and the reason to refuse the format, if any.
func scanFormat(format string, nargs int, each func(arg, wid, prec int)) (fixed, extra int, problem formatProblem) {
	end := len(format)
	argNum := 0
	afterIndex := false
	reordered := false
	goodArgNum := true
	argNumber := func(i int) int {
		if i >= end || format[i] != '[' {
			afterIndex = false
			return i
		}
		reordered = true
		index, wid, ok := parseArgNumber(format[i:])
		if ok && 0 <= index && index < nargs {
			argNum, afterIndex = index, true
			return i + wid
		}
		goodArgNum = false
		afterIndex = ok
		return i + wid
	}
formatLoop:
	for i := 0; i < end; {
		goodArgNum = true
		lasti := i
		for i < end && format[i] != '%' {
			i++
		}
		fixed += i - lasti
		if i >= end {
			break
		}
		i++
	flags:
		for ; i < end; i++ {
			switch c := format[i]; c {
			case '#', '0', '+', '-', ' ':
			default:
				if 'a' <= c && c <= 'z' && argNum < nargs {
					if c == 'p' {
						return 0, 0, "%p (a memory address) is not allowed"
					}
					if each != nil {
						each(argNum, 0, 0)
					}
					argNum++
					i++
					continue formatLoop
				}
				break flags
			}
		}
		i = argNumber(i)
		if i < end && format[i] == '*' {
			return 0, 0, "* (a width or precision taken from an argument) is not allowed"
		}
		wid, widPresent, newi, tooBig := parseWidth(format, i)
		if tooBig {
			return 0, 0, formatProblem(fmt.Sprintf("width %s is more than the limit of %d", digits(format, i), MaxFormatWidth))
		}
		i = newi
		if afterIndex && widPresent {
			goodArgNum = false
		}
		prec := 0
		if i+1 < end && format[i] == '.' {
			i++
			if afterIndex {
				goodArgNum = false
			}
			i = argNumber(i)
			if i < end && format[i] == '*' {
				return 0, 0, "* (a width or precision taken from an argument) is not allowed"
			}
			p, _, newi, tooBig := parseWidth(format, i)
			if tooBig {
				return 0, 0, formatProblem(fmt.Sprintf("precision %s is more than the limit of %d", digits(format, i), MaxFormatWidth))
			}
			prec, i = p, newi
		}
		if !afterIndex {
			i = argNumber(i)
		}
		if i >= end {
			fixed += len("%!(NOVERB)")
			break
		}
		verb, size := utf8.DecodeRuneInString(format[i:])
		i += size
		switch {
		case verb == '%':
			fixed++
		case !goodArgNum:
			fixed += len("%!") + utf8.UTFMax + len("(BADINDEX)")
		case argNum >= nargs:
			fixed += len("%!") + utf8.UTFMax + len("(MISSING)")
		default:
			if verb == 'p' {
				return 0, 0, "%p (a memory address) is not allowed"
			}
			if each != nil {
				each(argNum, wid, prec)
			}
			argNum++
		}
	}
	if !reordered && argNum < nargs {
		fixed += len("%!(EXTRA )")
		return fixed, argNum, ""
	}
	return fixed, nargs, ""
}

// parseWidth reads the digits at format[i:], as fmt's parsenum, and says whether they exceed
// MaxFormatWidth.
func parseWidth(format string, i int) (num int, present bool, newi int, tooBig bool) {
	for newi = i; newi < len(format) && '0' <= format[newi] && format[newi] <= '9'; newi++ {
		num = num*10 + int(format[newi]-'0')
		present = true
		if num > MaxFormatWidth {
			return 0, true, newi, true
		}
	}
	return num, present, newi, false
}

// digits returns the run of digits at format[i:], cut for an error message.
func digits(format string, i int) string {
	j := i
	for j < len(format) && '0' <= format[j] && format[j] <= '9' {
		j++
	}
	return truncateUTF8(format[i:j], 20)
}

// parseArgNumber is fmt's: the index in "[n]" at the start of format, the bytes it spans, and
// whether it is well formed.
func parseArgNumber(format string) (index int, wid int, ok bool) {
	if len(format) < 3 {
		return 0, 1, false
	}
	for i := 1; i < len(format); i++ {
		if format[i] == ']' {
			width, ok, newi := fmtParsenum(format, 1, i)
			if !ok || newi != i {
				return 0, i + 1, false
			}
			return width - 1, i + 1, true
		}
	}
	return 0, 1, false
}

// fmtParsenum is fmt's parsenum, overflow rule included.
func fmtParsenum(s string, start, end int) (num int, isnum bool, newi int) {
	if start >= end {
		return 0, false, end
	}
	for newi = start; newi < end && '0' <= s[newi] && s[newi] <= '9'; newi++ {
		if num > 1e6 || num < -1e6 {
			return 0, false, end
		}
		num = num*10 + int(s[newi]-'0')
		isnum = true
	}
	return
}

// The slack in argBound covers fmt's markers around one argument (%!d(string=…), type names),
// signs, prefixes (0x), quotes and the digits of any integer.
const boundSlack = 48

// argBound is an upper bound on the bytes fmt writes for v under any verb with the given width
// and precision. A string grows at most 5 times: "% #x" writes "0x61 " for each byte; %q and
// %+q write at most 4 bytes per byte ("\x80"). A float under %f writes up to 309 digits before
// the point. Maps, lists, the subject and Data apply the verb, width and precision to every key,
// value, name and field.
// Once the sum exceeds limit, the result is only known to exceed it.
func argBound(v value, wid, prec int, d *eventData, limit int) int {
	pad := wid + prec + boundSlack
	switch v.kind {
	case vString:
		return 5*len(v.s) + pad
	case vBool:
		return pad
	case vInt, vByte:
		return pad + 96
	case vFloat:
		return pad + 400
	case vMap:
		return mapBound(v.m, pad, limit)
	case vSubject:
		return subjectBound(d.subject(), pad)
	case vList:
		return listBound(v.list(d), pad, limit)
	case vData:
		data := d.data()
		n := 2 * boundSlack
		for _, s := range [...]string{data.EventType, data.ResourceName, data.ResourceKind, data.Namespace,
			data.Reason, data.Message, data.Timestamp, data.EventTime, data.Source, data.Severity, data.Description} {
			n += 5*len(s) + pad + len("ResourceName:")
		}
		n += mapBound(data.Metadata, pad, limit) + mapBound(data.Tags, pad, limit) + 2*len("Description:")
		n += subjectBound(data.Subject, pad) + len("Subject:")
		n += listBound(data.Resources, pad, limit) + len("Resources:")
		n += pad + 96 + len("ResourceCount:")
		return n
	}
	return pad
}

// subjectBound bounds the subject as argBound does a value: its three fields, their names (%+v)
// and its type's name (%#v).
func subjectBound(s Subject, pad int) int {
	n := 2 * boundSlack
	for _, f := range [...]string{s.Kind, s.Namespace, s.Name} {
		n += 5*len(f) + pad + len("Namespace:")
	}
	return n
}

// listBound bounds a list of names as argBound does a value: each name and its separator.
func listBound(names []string, pad, limit int) int {
	n := 2 * boundSlack
	for _, s := range names {
		n += 5*len(s) + pad + len(", ")
		if n > limit {
			return n
		}
	}
	return n
}

func mapBound(m map[string]string, pad, limit int) int {
	n := 2 * boundSlack
	for k, v := range m {
		n += 5*(len(k)+len(v)) + 2*pad
		if n > limit {
			return n
		}
	}
	return n
}

// printfBound is an upper bound on len(fmt.Sprintf(format, args…)), or the reason the format is
// refused.
func printfBound(format string, args []value, d *eventData, limit int) (int, formatProblem) {
	bound := 0
	fixed, extra, problem := scanFormat(format, len(args), func(arg, wid, prec int) {
		if bound <= limit {
			bound += argBound(args[arg], wid, prec, d, limit)
		}
	})
	if problem != "" {
		return 0, problem
	}
	bound += fixed
	for _, a := range args[extra:] {
		if bound > limit {
			break
		}
		bound += len(a.kind.typeName()) + len("=, ") + argBound(a, 0, 0, d, limit)
	}
	return bound, ""
}

// printBound is an upper bound on len(fmt.Sprint(args…)) and len(fmt.Sprintln(args…)).
func printBound(args []value, d *eventData, limit int) int {
	bound := len(args) + 1 // separating spaces and println's newline
	for _, a := range args {
		if bound > limit {
			break
		}
		bound += argBound(a, 0, 0, d, limit)
	}
	return bound
}
