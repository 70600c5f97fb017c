package templating

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/template/parse"
	"unicode/utf8"
)

// The program a template compiles to: statements (text and actions) over pipelines of commands,
// with variables resolved to slots. Positions are byte offsets into the template, for errors.

type stmtOp uint8

const (
	opText       stmtOp = iota
	opPrintField        // {{.Field}}: print one of Data's string fields
	opPrint             // {{pipeline}}
	opSet               // {{$x := pipeline}}, {{$x = pipeline}}
	opIf
	opWith
	opRange
	opBreak
	opContinue
)

type stmt struct {
	op    stmtOp
	pos   int
	text  string   // opText
	field fieldRef // opPrintField
	pipe  *pipeline
	body  []stmt // if, with, range
	els   []stmt
	vars  []int // range: the slots of its key and element variables, or of the element alone
}

type pipeline struct {
	cmds []command
	decl []int // the slots that receive the pipeline's value
}

type cmdOp uint8

const (
	cmdConst cmdOp = iota
	cmdDot
	cmdField // .A.B
	cmdVar   // $x.A.B
	cmdPipe  // (pipeline)
	cmdCall  // function call
)

type command struct {
	op    cmdOp
	pos   int
	konst value
	slot  int
	chain []fieldRef
	pipe  *pipeline
	fn    funcID
	args  []command
	final bool // a call that takes the previous command's value as its last argument
}

type fieldRef struct {
	name string
	id   fieldID // the Data field of that name, or noField
}

// skind is what the compiler knows of a value's type. It is a guess kept only to refuse what
// cannot work (fields of a string, range over a string, upper of a number) and to name the
// problem; the interpreter checks every type again as it runs.
type skind uint8

const (
	skAny skind = iota
	skString
	skBool
	skInt
	skByte
	skFloat
	skMap
	skData
	skSubject
	skList
)

func (k skind) String() string {
	return [...]string{"a value", "a string", "a bool", "an int", "a byte", "a float", "a map", "the data", "the subject", "a list"}[k]
}

func join(a, b skind) skind {
	if a == b {
		return a
	}
	return skAny
}

type compiler struct {
	tree      *parse.Tree
	scope     []scopedVar // variables in view, innermost last
	kinds     []skind     // what each slot may hold
	nesting   int         // if/with/range
	exprDepth int         // parenthesised pipelines
	inRange   bool
}

type scopedVar struct {
	name string
	slot int
}

// compile parses text and compiles it, refusing what the sandbox does not allow.
func compile(text string) (*Template, error) {
	if n := utf8.RuneCountInString(text); n > MaxTemplateCharacters {
		return nil, fmt.Errorf("%w: template is %d characters, more than the limit of %d", ErrRefused, n, MaxTemplateCharacters)
	}
	tree := parse.New("prompt")
	trees := map[string]*parse.Tree{}
	if _, err := tree.Parse(text, "", "", trees, parseFuncs); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if len(trees) != 1 || trees["prompt"] != tree {
		var names []string
		for name, t := range trees {
			if t != tree {
				names = append(names, strconv.Quote(name))
			}
		}
		return nil, fmt.Errorf("%w: defining templates (%s) is not allowed", ErrRefused, strings.Join(slices.Sorted(slices.Values(names)), ", "))
	}
	c := &compiler{tree: tree}
	c.declare("$", skData)
	root, err := c.list(tree.Root, skData)
	if err != nil {
		return nil, err
	}
	t := &Template{text: text, root: root, slots: len(c.kinds)}
	t.cost = t.computeCost()
	return t, nil
}

// parseFuncs are the names the parser accepts as functions: ours, and text/template's other
// built-ins, so that using one of those is refused with a clear message rather than "not defined".
var parseFuncs = func() map[string]any {
	m := map[string]any{"call": true, "html": true, "js": true, "urlquery": true} // parse wants non-nil
	for _, f := range Functions {
		m[f] = true
	}
	return m
}()

func (c *compiler) refuse(n parse.Node, format string, args ...any) error {
	loc, _ := c.tree.ErrorContext(n)
	return fmt.Errorf("%w: %s: %s", ErrRefused, loc, fmt.Sprintf(format, args...))
}

func (c *compiler) declare(name string, kind skind) int {
	slot := len(c.kinds)
	c.kinds = append(c.kinds, kind)
	c.scope = append(c.scope, scopedVar{name, slot})
	return slot
}

func (c *compiler) lookup(name string) (int, bool) {
	for i := len(c.scope) - 1; i >= 0; i-- {
		if c.scope[i].name == name {
			return c.scope[i].slot, true
		}
	}
	return 0, false
}

func (c *compiler) list(l *parse.ListNode, dot skind) ([]stmt, error) {
	if l == nil {
		return nil, nil
	}
	out := make([]stmt, 0, len(l.Nodes))
	for _, n := range l.Nodes {
		s, ok, err := c.node(n, dot)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if s.op == opText && len(out) > 0 && out[len(out)-1].op == opText {
			out[len(out)-1].text += s.text
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

func (c *compiler) node(n parse.Node, dot skind) (stmt, bool, error) {
	switch n := n.(type) {
	case *parse.TextNode:
		return stmt{op: opText, pos: int(n.Pos), text: string(n.Text)}, true, nil
	case *parse.CommentNode:
		return stmt{}, false, nil
	case *parse.ActionNode:
		p, _, err := c.pipeline(n.Pipe, dot)
		if err != nil {
			return stmt{}, false, err
		}
		if len(p.decl) > 0 {
			return stmt{op: opSet, pos: int(n.Pos), pipe: p}, true, nil
		}
		if cmd := p.cmds[0]; len(p.cmds) == 1 && cmd.op == cmdField && len(cmd.chain) == 1 && stringField(cmd.chain[0].id) {
			return stmt{op: opPrintField, pos: cmd.pos, field: cmd.chain[0], pipe: p}, true, nil
		}
		return stmt{op: opPrint, pos: int(n.Pos), pipe: p}, true, nil
	case *parse.IfNode:
		s, err := c.ifOrWith(opIf, &n.BranchNode, dot, false)
		return s, err == nil, err
	case *parse.WithNode:
		s, err := c.ifOrWith(opWith, &n.BranchNode, dot, false)
		return s, err == nil, err
	case *parse.RangeNode:
		s, err := c.rangeNode(n, dot)
		return s, err == nil, err
	case *parse.BreakNode:
		return stmt{op: opBreak, pos: int(n.Pos)}, true, nil
	case *parse.ContinueNode:
		return stmt{op: opContinue, pos: int(n.Pos)}, true, nil
	case *parse.TemplateNode:
		return stmt{}, false, c.refuse(n, "{{template %q}} is not allowed", n.Name)
	}
	return stmt{}, false, c.refuse(n, "%s is not allowed", n)
}

func (c *compiler) enter(n parse.Node) error {
	if c.nesting == MaxNesting {
		return c.refuse(n, "if, with and range nest deeper than the limit of %d", MaxNesting)
	}
	c.nesting++
	return nil
}

// ifOrWith compiles if and with. An "else if" (or "else with") continues its chain at the same
// nesting level.
func (c *compiler) ifOrWith(op stmtOp, b *parse.BranchNode, dot skind, chained bool) (stmt, error) {
	if !chained {
		if err := c.enter(b); err != nil {
			return stmt{}, err
		}
		defer func() { c.nesting-- }()
	}
	outer := len(c.scope)
	defer func() { c.scope = c.scope[:outer] }()
	p, kind, err := c.pipeline(b.Pipe, dot)
	if err != nil {
		return stmt{}, err
	}
	s := stmt{op: op, pos: int(b.Pos), pipe: p}
	inner := dot
	if op == opWith {
		inner = kind
	}
	// Variables declared in the body are not in view in the else branch when it runs, though
	// the parser lets a template name them there.
	declared := len(c.scope)
	if s.body, err = c.list(b.List, inner); err != nil {
		return stmt{}, err
	}
	c.scope = c.scope[:declared]
	if b.ElseList == nil {
		return s, nil
	}
	if nodes := b.ElseList.Nodes; len(nodes) == 1 {
		var next *parse.BranchNode
		switch n := nodes[0].(type) {
		case *parse.IfNode:
			if op == opIf {
				next = &n.BranchNode
			}
		case *parse.WithNode:
			if op == opWith {
				next = &n.BranchNode
			}
		}
		if next != nil {
			e, err := c.ifOrWith(op, next, dot, true)
			if err != nil {
				return stmt{}, err
			}
			s.els = []stmt{e}
			return s, nil
		}
	}
	if s.els, err = c.list(b.ElseList, dot); err != nil {
		return stmt{}, err
	}
	return s, nil
}

func (c *compiler) rangeNode(n *parse.RangeNode, dot skind) (stmt, error) {
	if c.inRange {
		return stmt{}, c.refuse(n, "range inside range is not allowed")
	}
	if err := c.enter(n); err != nil {
		return stmt{}, err
	}
	defer func() { c.nesting-- }()
	outer := len(c.scope)
	defer func() { c.scope = c.scope[:outer] }()
	p, kind, err := c.commands(n.Pipe, dot)
	if err != nil {
		return stmt{}, err
	}
	if kind != skMap && kind != skList {
		return stmt{}, c.refuse(n, "range is allowed over .Metadata, .Tags and .Resources only, not over %s", kind)
	}
	// The variables first hold the map or list itself, then each key (a string) or index (an
	// int) and element (a string) in turn; a single variable holds the element.
	for i, d := range n.Pipe.Decl {
		name := d.Ident[0]
		each := skString
		if i == 0 && len(n.Pipe.Decl) == 2 && kind == skList {
			each = skInt
		}
		if n.Pipe.IsAssign {
			slot, ok := c.lookup(name)
			if !ok {
				return stmt{}, c.refuse(d, "undefined variable %s", name)
			}
			c.kinds[slot] = join(join(c.kinds[slot], kind), each)
			p.decl = append(p.decl, slot)
		} else {
			p.decl = append(p.decl, c.declare(name, each))
		}
	}
	s := stmt{op: opRange, pos: int(n.Pos), pipe: p, vars: p.decl}
	declared := len(c.scope)
	c.inRange = true
	s.body, err = c.list(n.List, skString)
	c.inRange = false
	if err != nil {
		return stmt{}, err
	}
	c.scope = c.scope[:declared]
	if !n.Pipe.IsAssign {
		for _, slot := range p.decl {
			c.kinds[slot] = kind // an empty map or list leaves them holding it
		}
	}
	if s.els, err = c.list(n.ElseList, dot); err != nil {
		return stmt{}, err
	}
	return s, nil
}

// pipeline compiles a pipeline and its declarations or assignments.
func (c *compiler) pipeline(pn *parse.PipeNode, dot skind) (*pipeline, skind, error) {
	p, kind, err := c.commands(pn, dot)
	if err != nil {
		return nil, 0, err
	}
	for _, d := range pn.Decl {
		name := d.Ident[0]
		if pn.IsAssign {
			slot, ok := c.lookup(name)
			if !ok {
				return nil, 0, c.refuse(d, "undefined variable %s", name)
			}
			c.kinds[slot] = join(c.kinds[slot], kind)
			p.decl = append(p.decl, slot)
		} else {
			p.decl = append(p.decl, c.declare(name, kind))
		}
	}
	return p, kind, nil
}

// commands compiles a pipeline's commands and returns the kind of its value.
func (c *compiler) commands(pn *parse.PipeNode, dot skind) (*pipeline, skind, error) {
	p := &pipeline{cmds: make([]command, 0, len(pn.Cmds))}
	kind := skAny
	for i, cn := range pn.Cmds {
		cmd, k, err := c.command(cn, dot, i > 0, kind)
		if err != nil {
			return nil, 0, err
		}
		p.cmds = append(p.cmds, cmd)
		kind = k
	}
	return p, kind, nil
}

func (c *compiler) command(cn *parse.CommandNode, dot skind, final bool, finalKind skind) (command, skind, error) {
	first := cn.Args[0]
	if id, ok := first.(*parse.IdentifierNode); ok {
		return c.call(id, cn.Args[1:], dot, final, finalKind)
	}
	if len(cn.Args) > 1 {
		switch first.(type) {
		case *parse.FieldNode, *parse.VariableNode, *parse.ChainNode:
			return command{}, 0, c.refuse(cn, "arguments after %s would call a method, which is not allowed", first)
		}
		return command{}, 0, c.refuse(cn, "%s is not a function and cannot take arguments", first)
	}
	if final {
		return command{}, 0, c.refuse(cn, "%s is not a function, so a pipeline cannot pass it a value", first)
	}
	return c.operand(first, dot, pAny)
}

// call compiles a function call with the given arguments and, when final is set, the previous
// command's value (of kind finalKind) as its last argument.
func (c *compiler) call(id *parse.IdentifierNode, args []parse.Node, dot skind, final bool, finalKind skind) (command, skind, error) {
	fn, ok := funcByName(id.Ident)
	if !ok {
		return command{}, 0, c.refuse(id, "function %q is not allowed (allowed: %s)", id.Ident, strings.Join(Functions, ", "))
	}
	sig := signatures[fn]
	n := len(args)
	if final {
		n++
	}
	switch {
	case sig.variadic && n < len(sig.fixed):
		return command{}, 0, c.refuse(id, "wrong number of args for %s: want at least %d got %d", id.Ident, len(sig.fixed), n)
	case !sig.variadic && n != len(sig.fixed):
		return command{}, 0, c.refuse(id, "wrong number of args for %s: want %d got %d", id.Ident, len(sig.fixed), n)
	}
	cmd := command{op: cmdCall, pos: int(id.Pos), fn: fn, final: final}
	if len(args) > 0 {
		cmd.args = make([]command, 0, len(args))
	}
	var buf [4]skind
	kinds := buf[:0]
	for i, a := range args {
		arg, kind, err := c.operand(a, dot, sig.param(i))
		if err != nil {
			return command{}, 0, err
		}
		if err := c.accepts(a, id.Ident, i, sig.param(i), kind); err != nil {
			return command{}, 0, err
		}
		cmd.args = append(cmd.args, arg)
		kinds = append(kinds, kind)
	}
	if final {
		if err := c.accepts(id, id.Ident, n-1, sig.param(n-1), finalKind); err != nil {
			return command{}, 0, err
		}
		kinds = append(kinds, finalKind)
	}
	if fn == fnPrintf && len(args) > 0 {
		if s, ok := args[0].(*parse.StringNode); ok {
			if _, _, problem := scanFormat(s.Text, n-1, nil); problem != "" {
				return command{}, 0, c.refuse(s, "printf format %s: %s", quoteShort(s.Text), problem)
			}
		}
	}
	kind, err := c.result(id, fn, kinds)
	return cmd, kind, err
}

// result is the kind of fn's value, refusing calls that can only fail.
func (c *compiler) result(id *parse.IdentifierNode, fn funcID, args []skind) (skind, error) {
	switch fn {
	case fnAnd, fnOr:
		k := args[0]
		for _, a := range args[1:] {
			k = join(k, a)
		}
		return k, nil
	case fnNot, fnEq, fnNe, fnLt, fnLe, fnGt, fnGe:
		return skBool, nil
	case fnLen:
		if k := args[0]; k != skAny && k != skString && k != skMap && k != skList {
			return 0, c.refuse(id, "len of %s is not defined", k)
		}
		return skInt, nil
	case fnIndex:
		if len(args) == 2 && (args[0] == skMap || args[0] == skList) {
			return skString, nil
		}
		return skAny, nil
	case fnSlice:
		if k := args[0]; k != skAny && k != skString && k != skList {
			return 0, c.refuse(id, "slice of %s is not allowed: only strings and .Resources can be sliced", k)
		}
		return args[0], nil
	}
	return skString, nil
}

// accepts refuses an argument that cannot have the type a string or int parameter needs.
func (c *compiler) accepts(n parse.Node, fn string, i int, want paramKind, got skind) error {
	switch {
	case want == pString && got != skString && got != skAny,
		want == pInt && got != skInt && got != skAny:
		return c.refuse(n, "argument %d of %s must be %s, not %s", i+1, fn, map[paramKind]skind{pString: skString, pInt: skInt}[want], got)
	}
	return nil
}

// operand compiles one argument (or a command that is not a call) for a parameter of kind want,
// converting constants the way text/template does for that parameter.
func (c *compiler) operand(n parse.Node, dot skind, want paramKind) (command, skind, error) {
	switch n := n.(type) {
	case *parse.StringNode:
		if want == pInt {
			return command{}, 0, c.refuse(n, "expected integer; found %s", n)
		}
		return command{op: cmdConst, pos: int(n.Pos), konst: stringValue(n.Text)}, skString, nil
	case *parse.NumberNode:
		return c.number(n, want)
	case *parse.BoolNode:
		if want != pAny {
			return command{}, 0, c.refuse(n, "expected %s; found %s", want, n)
		}
		return command{op: cmdConst, pos: int(n.Pos), konst: boolValue(n.True)}, skBool, nil
	case *parse.DotNode:
		return command{op: cmdDot, pos: int(n.Pos)}, dot, nil
	case *parse.FieldNode:
		chain, kind, err := c.fieldChain(n, dot, n.Ident)
		return command{op: cmdField, pos: int(n.Pos), chain: chain}, kind, err
	case *parse.VariableNode:
		slot, ok := c.lookup(n.Ident[0])
		if !ok {
			return command{}, 0, c.refuse(n, "undefined variable %s", n.Ident[0])
		}
		chain, kind, err := c.fieldChain(n, c.kinds[slot], n.Ident[1:])
		return command{op: cmdVar, pos: int(n.Pos), slot: slot, chain: chain}, kind, err
	case *parse.PipeNode:
		if len(n.Decl) > 0 {
			return command{}, 0, c.refuse(n, "declaring variables inside parentheses is not allowed")
		}
		if c.exprDepth == MaxExpressionDepth {
			return command{}, 0, c.refuse(n, "parentheses nest deeper than the limit of %d", MaxExpressionDepth)
		}
		c.exprDepth++
		p, kind, err := c.commands(n, dot)
		c.exprDepth--
		if err != nil {
			return command{}, 0, err
		}
		return command{op: cmdPipe, pos: int(n.Pos), pipe: p}, kind, nil
	case *parse.IdentifierNode:
		return c.call(n, nil, dot, false, skAny)
	case *parse.ChainNode:
		return command{}, 0, c.refuse(n, "field access on a parenthesised value (%s) is not allowed", n)
	case *parse.NilNode:
		return command{}, 0, c.refuse(n, "nil is not allowed")
	}
	return command{}, 0, c.refuse(n, "%s is not allowed", n)
}

// number converts a numeric constant as text/template does: for an int parameter it must be an
// integer; elsewhere its spelling decides (idealConstant in text/template's exec.go).
func (c *compiler) number(n *parse.NumberNode, want paramKind) (command, skind, error) {
	cmd := command{op: cmdConst, pos: int(n.Pos)}
	switch {
	case want == pString:
		return command{}, 0, c.refuse(n, "expected string; found %s", n)
	case n.IsComplex:
		return command{}, 0, c.refuse(n, "complex numbers are not allowed")
	case want == pInt:
		if !n.IsInt || int64(int(n.Int64)) != n.Int64 {
			return command{}, 0, c.refuse(n, "expected integer; found %s", n)
		}
		cmd.konst = intValue(int(n.Int64))
		return cmd, skInt, nil
	case n.IsFloat && !isHexInt(n.Text) && !isRuneInt(n.Text) && strings.ContainsAny(n.Text, ".eEpP"):
		cmd.konst = value{kind: vFloat, f: n.Float64}
		return cmd, skFloat, nil
	case n.IsInt && int64(int(n.Int64)) == n.Int64:
		cmd.konst = intValue(int(n.Int64))
		return cmd, skInt, nil
	}
	return command{}, 0, c.refuse(n, "%s overflows int", n.Text)
}

func isRuneInt(s string) bool { return len(s) > 0 && s[0] == '\'' }

func isHexInt(s string) bool {
	return len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && !strings.ContainsAny(s, "pP")
}

// fieldChain compiles .A.B… on a value of kind base: fields of Data and of the subject must be
// allowed; a map's keys are free; nothing else has fields.
func (c *compiler) fieldChain(n parse.Node, base skind, idents []string) ([]fieldRef, skind, error) {
	kind := base
	chain := make([]fieldRef, 0, len(idents))
	for _, id := range idents {
		switch kind {
		case skData:
			f := fieldByName(id)
			if f == noField {
				return nil, 0, c.refuse(n, "field %q is not allowed (allowed: %s)", id, strings.Join(Fields, ", "))
			}
			switch f {
			case fMetadata, fTags:
				kind = skMap
			case fSubject:
				kind = skSubject
			case fResources:
				kind = skList
			case fResourceCount:
				kind = skInt
			default:
				kind = skString
			}
		case skSubject:
			if !slices.Contains(SubjectFields, id) {
				return nil, 0, c.refuse(n, "field %q of .Subject is not allowed (allowed: %s)", id, strings.Join(SubjectFields, ", "))
			}
			kind = skString
		case skMap:
			kind = skString
		case skString:
			return nil, 0, c.refuse(n, "%q is a field or method of a string, which is not allowed", id)
		case skList:
			return nil, 0, c.refuse(n, "%q is a field of a list, which has none: use index or range", id)
		default:
			return nil, 0, c.refuse(n, "%q is a field of %s; fields are allowed on the data ($ or .), .Subject, .Metadata and .Tags only", id, kind)
		}
		chain = append(chain, fieldRef{name: id, id: fieldByName(id)})
	}
	return chain, kind, nil
}

// quoteShort quotes s for an error message, cut to a readable length.
func quoteShort(s string) string {
	const max = 40
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(truncateUTF8(s, max)) + "…"
}
