package templating

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/khook-dev/khook/domain/event"
)

// Limits.
const (
	MaxTemplateBytes = 10000     // the CRD's limit on a prompt
	MaxOutputBytes   = 32 * 1024 // a rendered prompt
	MaxValueBytes    = 4096      // one event field inserted into a prompt
	maxCachedEntries = 1024
)

// Limits on a metadata map, in templates (.Metadata) and in what SanitizeMetadata returns.
const (
	// MaxMetadataKeys is how many keys are kept: the first ones in key order.
	MaxMetadataKeys = 128
	// MaxMetadataKeyBytes bounds one key.
	MaxMetadataKeyBytes = 256
	// MaxMetadataBytes bounds the keys and values of one map together.
	MaxMetadataBytes = 64 * 1024
)

// ErrRefused is wrapped by every error about a template that breaks the allow-list.
var ErrRefused = errors.New("template refused")

// ErrOutputTooLarge is returned when rendering would exceed MaxOutputBytes.
var ErrOutputTooLarge = fmt.Errorf("rendered prompt is larger than %d bytes", MaxOutputBytes)

// Fields are the names a template may use after the dot.
var Fields = []string{"EventType", "ResourceName", "ResourceKind", "Namespace", "Reason", "Message", "Timestamp", "EventTime", "Source", "Metadata", "Severity", "Description", "Tags"}

// Functions are the functions a template may call: text/template's harmless built-ins plus a
// few string helpers.
var Functions = []string{"and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index", "slice", "print", "printf", "println", "upper", "lower", "trimSpace", "truncate", "quote"}

var helperFuncs = template.FuncMap{
	"upper":     strings.ToUpper,
	"lower":     strings.ToLower,
	"trimSpace": strings.TrimSpace,
	"quote":     strconv.Quote,
	"truncate": func(n int, s string) string {
		if n < 0 || len(s) <= n {
			return s
		}
		return truncateUTF8(s, n)
	},
}

var (
	allowedFields    = toSet(Fields)
	allowedFunctions = toSet(Functions)
)

// Data is what a template sees.
type Data struct {
	EventType    string
	ResourceName string
	ResourceKind string
	Namespace    string
	Reason       string
	Message      string
	Timestamp    string
	EventTime    string
	Source       string
	Metadata     map[string]string
	Severity     string
	Description  string
	Tags         map[string]string
}

// DataFor builds the sanitized template data for e.
func DataFor(e event.Event) Data {
	ts := e.Timestamp.UTC().Format(time.RFC3339)
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
		Metadata:     SanitizeMetadata(e.Metadata),
		Severity:     Sanitize(e.Severity),
		Description:  Sanitize(e.Description),
		Tags:         SanitizeMetadata(e.Tags),
	}
}

// Renderer compiles, checks and caches templates. It is safe for concurrent use.
type Renderer struct {
	mu    sync.Mutex
	cache map[string]*template.Template
}

// NewRenderer returns a Renderer with an empty cache.
func NewRenderer() *Renderer {
	return &Renderer{cache: map[string]*template.Template{}}
}

// Check parses text and walks it against the allow-list without rendering it.
func (r *Renderer) Check(text string) error {
	_, err := r.compile(text)
	return err
}

// Render renders text for e.
func (r *Renderer) Render(text string, e event.Event) (string, error) {
	t, err := r.compile(text)
	if err != nil {
		return "", err
	}
	out := &limitedBuffer{limit: MaxOutputBytes}
	if err := t.Execute(out, DataFor(e)); err != nil {
		if errors.Is(err, ErrOutputTooLarge) {
			return "", ErrOutputTooLarge
		}
		return "", fmt.Errorf("executing template: %w", err)
	}
	return out.String(), nil
}

func (r *Renderer) compile(text string) (*template.Template, error) {
	r.mu.Lock()
	t, ok := r.cache[text]
	r.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := compile(text)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if len(r.cache) >= maxCachedEntries {
		r.cache = map[string]*template.Template{} // hooks change rarely; start over
	}
	r.cache[text] = t
	r.mu.Unlock()
	return t, nil
}

func compile(text string) (*template.Template, error) {
	if len(text) > MaxTemplateBytes {
		return nil, fmt.Errorf("%w: template is %d bytes, more than the limit of %d", ErrRefused, len(text), MaxTemplateBytes)
	}
	t, err := template.New("prompt").Option("missingkey=zero").Funcs(helperFuncs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if extra := definedTemplates(t); len(extra) > 0 {
		return nil, fmt.Errorf("%w: defining templates (%s) is not allowed", ErrRefused, strings.Join(extra, ", "))
	}
	if t.Tree == nil || t.Root == nil {
		return t, nil
	}
	c := checker{tree: t.Tree}
	if err := c.node(t.Root, scope{dot: dotData, vars: map[string]dotKind{}}); err != nil {
		return nil, err
	}
	return t, nil
}

func definedTemplates(t *template.Template) []string {
	var names []string
	for _, d := range t.Templates() {
		if d.Name() != t.Name() {
			names = append(names, strconv.Quote(d.Name()))
		}
	}
	sort.Strings(names)
	return names
}

// scope tracks the variables in view and what the dot is.
type scope struct {
	dot  dotKind
	vars map[string]dotKind
}

type dotKind int

const (
	dotData dotKind = iota // the Data value (top level, or inside with/if)
	dotString
	dotMetadata // a string map: .Metadata or .Tags
)

func (s scope) with(dot dotKind, vars ...string) scope {
	n := scope{dot: dot, vars: map[string]dotKind{}}
	for k, v := range s.vars {
		n.vars[k] = v
	}
	for _, v := range vars {
		n.vars[v] = dotString
	}
	return n
}

type checker struct{ tree *parse.Tree }

func (c checker) refuse(n parse.Node, format string, args ...any) error {
	loc, _ := c.tree.ErrorContext(n)
	return fmt.Errorf("%w: %s: %s", ErrRefused, loc, fmt.Sprintf(format, args...))
}

func (c checker) node(n parse.Node, s scope) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, child := range n.Nodes {
			if err := c.node(child, s); err != nil {
				return err
			}
		}
		return nil
	case *parse.TextNode, *parse.CommentNode, *parse.BreakNode, *parse.ContinueNode:
		return nil
	case *parse.ActionNode:
		_, err := c.pipe(n.Pipe, s)
		return err
	case *parse.IfNode:
		return c.branch(&n.BranchNode, s, false)
	case *parse.WithNode:
		return c.branch(&n.BranchNode, s, true)
	case *parse.RangeNode:
		kind, err := c.pipe(n.Pipe, s)
		if err != nil {
			return err
		}
		if kind != dotMetadata {
			return c.refuse(n, "range is allowed over .Metadata and .Tags only")
		}
		inner := s.with(dotString, declNames(n.Pipe)...)
		if err := c.node(n.List, inner); err != nil {
			return err
		}
		return c.node(n.ElseList, s)
	case *parse.TemplateNode:
		return c.refuse(n, "{{template %q}} is not allowed", n.Name)
	default:
		return c.refuse(n, "%s is not allowed", n.String())
	}
}

func (c checker) branch(b *parse.BranchNode, s scope, rebindsDot bool) error {
	kind, err := c.pipe(b.Pipe, s)
	if err != nil {
		return err
	}
	inner := s.with(s.dot) // pipe has declared the pipeline's variables, with their kind
	if rebindsDot {
		inner.dot = kind
	}
	if err := c.node(b.List, inner); err != nil {
		return err
	}
	return c.node(b.ElseList, s)
}

func declNames(p *parse.PipeNode) []string {
	var names []string
	for _, d := range p.Decl {
		names = append(names, d.Ident[0])
	}
	return names
}

// pipe checks a pipeline and returns the kind of value it yields.
func (c checker) pipe(p *parse.PipeNode, s scope) (dotKind, error) {
	if p == nil {
		return dotString, nil
	}
	// Undeclared variables and assignments to them are refused by the parser already.
	kind := dotString
	for i, cmd := range p.Cmds {
		k, err := c.command(cmd, s)
		if err != nil {
			return 0, err
		}
		if i == 0 {
			kind = k
		} else {
			kind = dotString
		}
	}
	for _, d := range p.Decl {
		s.vars[d.Ident[0]] = kind
	}
	return kind, nil
}

func (c checker) command(cmd *parse.CommandNode, s scope) (dotKind, error) {
	if len(cmd.Args) == 0 {
		return dotString, nil
	}
	first := cmd.Args[0]
	if id, ok := first.(*parse.IdentifierNode); ok {
		if !allowedFunctions[id.Ident] {
			return 0, c.refuse(id, "function %q is not allowed (allowed: %s)", id.Ident, strings.Join(Functions, ", "))
		}
		for _, arg := range cmd.Args[1:] {
			if _, err := c.operand(arg, s); err != nil {
				return 0, err
			}
		}
		return dotString, nil
	}
	if len(cmd.Args) > 1 {
		return 0, c.refuse(cmd, "arguments after %s would call a method, which is not allowed", first)
	}
	return c.operand(first, s)
}

func (c checker) operand(n parse.Node, s scope) (dotKind, error) {
	switch n := n.(type) {
	case *parse.StringNode, *parse.NumberNode, *parse.BoolNode:
		return dotString, nil
	case *parse.DotNode:
		return s.dot, nil
	case *parse.FieldNode:
		return c.fieldChain(n, s.dot, n.Ident)
	case *parse.VariableNode:
		name := n.Ident[0]
		var kind dotKind
		if name == "$" {
			kind = dotData
		} else {
			k, ok := s.vars[name]
			if !ok {
				return 0, c.refuse(n, "undefined variable %s", name)
			}
			kind = k
		}
		return c.fieldChain(n, kind, n.Ident[1:])
	case *parse.PipeNode:
		return c.pipe(n, s)
	case *parse.IdentifierNode:
		if !allowedFunctions[n.Ident] {
			return 0, c.refuse(n, "function %q is not allowed (allowed: %s)", n.Ident, strings.Join(Functions, ", "))
		}
		return dotString, nil
	case *parse.ChainNode:
		return 0, c.refuse(n, "field access on a parenthesised value (%s) is not allowed", n)
	case *parse.NilNode:
		return 0, c.refuse(n, "nil is not allowed")
	default:
		return 0, c.refuse(n, "%s is not allowed", n)
	}
}

// fieldChain checks .A.B… starting from a value of kind base.
func (c checker) fieldChain(n parse.Node, base dotKind, idents []string) (dotKind, error) {
	kind := base
	for _, id := range idents {
		switch kind {
		case dotData:
			if !allowedFields[id] {
				return 0, c.refuse(n, "field %q is not allowed (allowed: %s)", id, strings.Join(Fields, ", "))
			}
			if id == "Metadata" || id == "Tags" {
				kind = dotMetadata
			} else {
				kind = dotString
			}
		case dotMetadata:
			kind = dotString
		default:
			return 0, c.refuse(n, "%q is a field or method of a string, which is not allowed", id)
		}
	}
	return kind, nil
}

type limitedBuffer struct {
	bytes.Buffer
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.limit {
		return 0, ErrOutputTooLarge
	}
	return b.Buffer.Write(p)
}

func toSet(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
