package templating

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/khook-dev/khook/domain/event"
)

// The interpreter runs a compiled template with the semantics of text/template (exec.go,
// funcs.go) for the allowed subset, and charges every step against the render's budgets.

// deadlineEvery is how many steps pass between two readings of the clock.
const deadlineEvery = 1024

type state struct {
	t        *Template
	d        eventData
	out      []byte
	slots    []value
	stack    []value // arguments of the calls under way
	ifaces   []any   // arguments handed to fmt
	steps    int
	next     int // the step count at which slowStep runs
	produced int
	started  bool
	start    time.Time
	turn     bool // holds one of the Renderer's turns of heavy work
}

var states = sync.Pool{New: func() any { return new(state) }}

// errInternal marks a panic of the interpreter, turned into an error: a bug, never a
// template's fault.
var errInternal = errors.New("internal error")

// render renders t for e in the incident g (nil: e's resource alone). With turn set, the caller
// holds one of the Renderer's turns of heavy work, which the render gives back.
func (t *Template) render(e *event.Event, g *Group, turn bool) (out string, err error) {
	s := states.Get().(*state)
	s.t = t
	s.d.reset(e, g)
	s.out = s.out[:0]
	if cap(s.slots) < t.slots {
		s.slots = make([]value, t.slots)
	}
	s.slots = s.slots[:t.slots]
	s.slots[0] = value{kind: vData}
	s.steps, s.produced, s.started, s.turn = 0, 0, false, turn
	s.next = min(deadlineEvery, MaxSteps+1)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: rendering prompt: %v", errInternal, r)
		}
		s.release()
	}()
	if !s.turn && t.cost > lightTemplateCost {
		s.takeTurn() // the template itself is much to hold, if the cache has let it go meanwhile
	}
	if _, err := s.list(t.root, value{kind: vData}); err != nil {
		return "", err
	}
	return string(s.out), nil
}

// release returns s to the pool without the strings functions made (up to MaxProducedBytes) and
// without the caller's list of names. The event's copy stays until the next render or until the
// pool drops s at a GC.
func (s *state) release() {
	if s.turn {
		<-s.t.turns
		s.turn = false
	}
	clear(s.slots)
	clear(s.stack[:cap(s.stack)])
	clear(s.ifaces[:cap(s.ifaces)])
	s.stack, s.ifaces = s.stack[:0], s.ifaces[:0]
	s.d.full = nil
	s.d.dropIncident()
	s.t = nil
	if cap(s.out) > 2*MaxOutputBytes {
		s.out = nil
	}
	states.Put(s)
}

func (s *state) where(pos int) string { return location(s.t.text, pos) }

func (s *state) errorf(pos int, format string, args ...any) error {
	return fmt.Errorf("%s: %s", s.where(pos), fmt.Sprintf(format, args...))
}

func (s *state) budget(pos int, which error, detail string) error {
	return &BudgetError{Where: s.where(pos), Err: which, Detail: detail}
}

// step charges one step.
func (s *state) step(pos int) error {
	s.steps++
	if s.steps >= s.next {
		return s.slowStep(pos)
	}
	return nil
}

// charge charges the work of reading or writing n bytes: a step per 256.
func (s *state) charge(pos int, n int) error {
	s.steps += n >> 8
	if s.steps >= s.next {
		return s.slowStep(pos)
	}
	return nil
}

func (s *state) slowStep(pos int) error {
	if s.steps > MaxSteps {
		return s.budget(pos, ErrTooManySteps, "")
	}
	if c := s.t.clock; c != nil {
		if !s.started {
			s.start, s.started = c.Now(), true
		} else if took := c.Since(s.start); took > RenderDeadline {
			return s.budget(pos, ErrDeadline, "")
		}
	}
	s.next = min(s.steps+deadlineEvery, MaxSteps+1)
	return nil
}

// produce makes sure a function may return up to n more bytes.
func (s *state) produce(pos int, n int, what string) error {
	if s.produced+n > MaxProducedBytes {
		return s.budget(pos, ErrProducedTooMuch, fmt.Sprintf("%s could make up to %d more bytes after %d", what, n, s.produced))
	}
	s.weigh(n)
	return nil
}

// weigh takes a turn of heavy work before the render holds more than lightRenderBytes, n more
// bytes being about to be written or made.
func (s *state) weigh(n int) {
	if !s.turn && s.produced+len(s.out)+n > lightRenderBytes {
		s.takeTurn()
	}
}

// takeTurn waits for one of the Renderer's turns of heavy work, which release gives back. The
// time spent waiting is not the render's.
func (s *state) takeTurn() {
	turns := s.t.turns
	if turns == nil {
		return
	}
	select {
	case turns <- struct{}{}:
	default:
		c := s.t.clock
		if !s.started || c == nil {
			turns <- struct{}{}
			break
		}
		waiting := c.Now()
		turns <- struct{}{}
		s.start = s.start.Add(c.Since(waiting))
	}
	s.turn = true
}

// produced counts a function's result against the budget.
func (s *state) count(pos int, result string, what string) error {
	s.produced += len(result)
	if s.produced > MaxProducedBytes {
		return s.budget(pos, ErrProducedTooMuch, what)
	}
	return s.charge(pos, len(result))
}

func (s *state) write(pos int, str string) error {
	if len(s.out)+len(str) > MaxOutputBytes {
		return s.budget(pos, ErrOutputTooLarge, "")
	}
	s.weigh(len(str))
	s.out = append(s.out, str...)
	return nil
}

func (s *state) writeBytes(pos int, b []byte) error {
	if len(s.out)+len(b) > MaxOutputBytes {
		return s.budget(pos, ErrOutputTooLarge, "")
	}
	s.weigh(len(b))
	s.out = append(s.out, b...)
	return nil
}

// control is how a list of statements ended.
type control uint8

const (
	ctlNext control = iota
	ctlBreak
	ctlContinue
)

func (s *state) list(list []stmt, dot value) (control, error) {
	for i := range list {
		st := &list[i]
		if err := s.step(st.pos); err != nil {
			return ctlNext, err
		}
		switch st.op {
		case opText:
			if err := s.write(st.pos, st.text); err != nil {
				return ctlNext, err
			}
		case opPrintField:
			if dot.kind != vData { // the dot is not the data here: do it the long way
				v, err := s.pipe(st.pipe, dot)
				if err == nil {
					err = s.print(st.pos, v)
				}
				if err != nil {
					return ctlNext, err
				}
				continue
			}
			if err := s.printField(st.pos, st.field.id); err != nil {
				return ctlNext, err
			}
		case opPrint:
			v, err := s.pipe(st.pipe, dot)
			if err == nil {
				err = s.print(st.pos, v)
			}
			if err != nil {
				return ctlNext, err
			}
		case opSet:
			if _, err := s.pipe(st.pipe, dot); err != nil {
				return ctlNext, err
			}
		case opIf, opWith:
			v, err := s.pipe(st.pipe, dot)
			if err != nil {
				return ctlNext, err
			}
			var ctl control
			switch {
			case v.truth() && st.op == opWith:
				ctl, err = s.list(st.body, v)
			case v.truth():
				ctl, err = s.list(st.body, dot)
			default:
				ctl, err = s.list(st.els, dot)
			}
			if err != nil || ctl != ctlNext {
				return ctl, err
			}
		case opRange:
			if err := s.rangeOver(st, dot); err != nil {
				return ctlNext, err
			}
		case opBreak:
			return ctlBreak, nil
		case opContinue:
			return ctlContinue, nil
		}
	}
	return ctlNext, nil
}

func (s *state) rangeOver(st *stmt, dot value) error {
	v, err := s.pipe(st.pipe, dot)
	if err != nil {
		return err
	}
	switch v.kind {
	case vMap:
	case vList:
		return s.rangeOverList(st, dot, v)
	default:
		return s.errorf(st.pos, "range can't iterate over %s", v.kind.typeName())
	}
	keys := s.d.sortedKeys(v.mapID)
	if len(keys) == 0 {
		_, err := s.list(st.els, dot)
		return err
	}
	for _, k := range keys {
		if err := s.step(st.pos); err != nil {
			return err
		}
		elem := stringValue(v.m[k])
		switch len(st.vars) {
		case 1:
			s.slots[st.vars[0]] = elem
		case 2:
			s.slots[st.vars[0]] = stringValue(k)
			s.slots[st.vars[1]] = elem
		}
		ctl, err := s.list(st.body, elem)
		if err != nil {
			return err
		}
		if ctl == ctlBreak {
			break
		}
	}
	return nil
}

// rangeOverList runs a range over the list v: each index and name.
func (s *state) rangeOverList(st *stmt, dot, v value) error {
	names := v.list(&s.d)
	if len(names) == 0 {
		_, err := s.list(st.els, dot)
		return err
	}
	for i, name := range names {
		if err := s.step(st.pos); err != nil {
			return err
		}
		elem := stringValue(name)
		switch len(st.vars) {
		case 1:
			s.slots[st.vars[0]] = elem
		case 2:
			s.slots[st.vars[0]] = intValue(i)
			s.slots[st.vars[1]] = elem
		}
		ctl, err := s.list(st.body, elem)
		if err != nil {
			return err
		}
		if ctl == ctlBreak {
			break
		}
	}
	return nil
}

// printField prints a string field of Data; the time stamp is formatted straight into the output.
func (s *state) printField(pos int, id fieldID) error {
	if (id == fTimestamp || id == fEventTime) && s.d.have&(1<<fTimestamp) == 0 {
		var buf [64]byte
		return s.writeBytes(pos, s.d.e.Timestamp.UTC().AppendFormat(buf[:0], time.RFC3339))
	}
	return s.write(pos, s.d.str(id))
}

// print writes v as text/template prints a value (fmt.Fprint).
func (s *state) print(pos int, v value) error {
	var buf [24]byte
	switch v.kind {
	case vString:
		return s.write(pos, v.s)
	case vBool:
		return s.write(pos, strconv.FormatBool(v.n != 0))
	case vInt, vByte:
		return s.writeBytes(pos, strconv.AppendInt(buf[:0], v.n, 10))
	case vInvalid:
		return s.write(pos, "<no value>")
	}
	// Floats, maps and the data go through fmt, bounded like print.
	n := argBound(v, 0, 0, &s.d, MaxProducedBytes)
	if err := s.produce(pos, n, "printing a value"); err != nil {
		return err
	}
	text := fmt.Sprint(v.iface(&s.d))
	if err := s.count(pos, text, "printing a value"); err != nil {
		return err
	}
	return s.write(pos, text)
}

func (s *state) pipe(p *pipeline, dot value) (value, error) {
	var v value
	for i := range p.cmds {
		var err error
		if v, err = s.command(&p.cmds[i], dot, v); err != nil {
			return value{}, err
		}
	}
	for _, slot := range p.decl {
		s.slots[slot] = v
	}
	return v, nil
}

// command evaluates c; final is the previous command's value, for calls that take it.
func (s *state) command(c *command, dot, final value) (value, error) {
	if err := s.step(c.pos); err != nil {
		return value{}, err
	}
	switch c.op {
	case cmdConst:
		return c.konst, nil
	case cmdDot:
		return dot, nil
	case cmdField:
		return s.chain(c, dot)
	case cmdVar:
		return s.chain(c, s.slots[c.slot])
	case cmdPipe:
		return s.pipe(c.pipe, dot)
	case cmdCall:
		return s.call(c, dot, final)
	}
	return value{}, s.errorf(c.pos, "unknown command")
}

func (s *state) chain(c *command, v value) (value, error) {
	for _, f := range c.chain {
		switch v.kind {
		case vData:
			if f.id == noField {
				return value{}, s.errorf(c.pos, "can't evaluate field %s in type templating.Data", f.name)
			}
			v = s.d.field(f.id)
		case vMap:
			v = stringValue(v.m[f.name])
		case vSubject:
			field, ok := s.d.subjectField(f.name)
			if !ok {
				return value{}, s.errorf(c.pos, "can't evaluate field %s in type templating.Subject", f.name)
			}
			v = stringValue(field)
		default:
			return value{}, s.errorf(c.pos, "can't evaluate field %s in type %s", f.name, v.kind.typeName())
		}
	}
	return v, nil
}

func (s *state) call(c *command, dot, final value) (value, error) {
	if c.fn == fnAnd || c.fn == fnOr {
		var v value
		for i := range c.args {
			var err error
			if v, err = s.command(&c.args[i], dot, value{}); err != nil {
				return value{}, err
			}
			if v.truth() == (c.fn == fnOr) {
				return v, nil
			}
		}
		if c.final {
			v = final
		}
		return v, nil
	}
	base := len(s.stack)
	for i := range c.args {
		v, err := s.command(&c.args[i], dot, value{})
		if err != nil {
			s.stack = s.stack[:base]
			return value{}, err
		}
		s.stack = append(s.stack, v)
	}
	if c.final {
		s.stack = append(s.stack, final)
	}
	args := s.stack[base:]
	v, err := s.apply(c, args)
	s.stack = s.stack[:base]
	return v, err
}

// apply calls c's function with args, whose count the compiler has checked.
func (s *state) apply(c *command, args []value) (value, error) {
	sig := signatures[c.fn]
	for i, a := range args {
		switch p := sig.param(i); {
		case p == pString && a.kind != vString, p == pInt && a.kind != vInt:
			return value{}, s.errorf(c.pos, "error calling %s: wrong type for value; expected %s; got %s", Functions[c.fn], p, a.kind.typeName())
		}
	}
	name := Functions[c.fn]
	wrap := func(v value, err error) (value, error) {
		if err != nil {
			return value{}, s.errorf(c.pos, "error calling %s: %v", name, err)
		}
		return v, nil
	}
	switch c.fn {
	case fnNot:
		return boolValue(!args[0].truth()), nil
	case fnEq, fnNe, fnLt, fnLe, fnGt, fnGe:
		n := 0
		for _, a := range args {
			n += len(a.s)
		}
		if err := s.charge(c.pos, n); err != nil {
			return value{}, err
		}
		return wrap(compare(c.fn, args))
	case fnLen:
		n, err := length(args[0])
		return wrap(intValue(n), err)
	case fnIndex:
		for _, a := range args[1:] {
			if err := s.charge(c.pos, len(a.s)); err != nil {
				return value{}, err
			}
		}
		return wrap(index(&s.d, args[0], args[1:]...))
	case fnSlice:
		v, err := slice(args[0], args[1:]...)
		if err != nil || v.kind == vList {
			return wrap(v, err)
		}
		return v, s.count(c.pos, v.s, name)
	case fnPrint, fnPrintln, fnPrintf:
		return s.sprint(c, args)
	case fnUpper, fnLower, fnQuote:
		in := args[0].s
		grow := 3 // upper and lower write U+FFFD (3 bytes) for each invalid byte
		if c.fn == fnQuote {
			grow = 4 // "\x80"
		}
		if err := s.produce(c.pos, grow*len(in)+2, name); err != nil {
			return value{}, err
		}
		var out string
		switch c.fn {
		case fnUpper:
			out = strings.ToUpper(in)
		case fnLower:
			out = strings.ToLower(in)
		default:
			out = strconv.Quote(in)
		}
		return stringValue(out), s.count(c.pos, out, name)
	case fnTrimSpace:
		out := strings.TrimSpace(args[0].s)
		if err := s.charge(c.pos, len(args[0].s)); err != nil {
			return value{}, err
		}
		return stringValue(out), s.count(c.pos, out, name)
	case fnTruncate:
		out := truncate(int(args[0].n), args[1].s)
		return stringValue(out), s.count(c.pos, out, name)
	}
	return value{}, s.errorf(c.pos, "unknown function %s", name)
}

// compare runs the comparison fn.
func compare(fn funcID, args []value) (value, error) {
	var truth bool
	var err error
	switch fn {
	case fnEq:
		truth, err = eq(args[0], args[1:]...)
	case fnNe:
		truth, err = eq(args[0], args[1])
		truth = !truth
	case fnLt:
		truth, err = lt(args[0], args[1])
	case fnLe:
		truth, err = le(args[0], args[1])
	case fnGt:
		truth, err = le(args[0], args[1])
		truth = !truth
	case fnGe:
		truth, err = lt(args[0], args[1])
		truth = !truth
	}
	if err != nil {
		return value{}, err
	}
	return boolValue(truth), nil
}

// sprint runs print, println or printf within the format limits and the produced-bytes budget.
func (s *state) sprint(c *command, args []value) (value, error) {
	name := Functions[c.fn]
	var bound int
	if c.fn == fnPrintf {
		b, problem := printfBound(args[0].s, args[1:], &s.d, MaxProducedBytes-s.produced)
		if problem != "" {
			return value{}, s.budget(c.pos, ErrFormat, fmt.Sprintf("format %s: %s", quoteShort(args[0].s), problem))
		}
		bound = b
	} else {
		bound = printBound(args, &s.d, MaxProducedBytes-s.produced)
	}
	if err := s.produce(c.pos, bound, name); err != nil {
		return value{}, err
	}
	ifaces := s.ifaces[:0]
	for _, a := range args {
		ifaces = append(ifaces, a.iface(&s.d))
	}
	s.ifaces = ifaces
	var out string
	switch c.fn {
	case fnPrint:
		out = fmt.Sprint(ifaces...)
	case fnPrintln:
		out = fmt.Sprintln(ifaces...)
	default:
		out = fmt.Sprintf(args[0].s, ifaces[1:]...)
	}
	clear(ifaces)
	return stringValue(out), s.count(c.pos, out, name)
}
