package templating

import (
	"slices"
	"unsafe"
)

// The cost of a compiled template is the memory it holds: its program (statements, pipelines,
// commands and their slices) and its text, each allocation rounded as the Go allocator rounds
// it. A compiled prompt is up to about 100 times its text: text costs a byte per byte, but
// every action, argument and parenthesis is a statement or command of a hundred bytes or more.
// TestCostIsTheHeapATemplateHolds holds the estimate to what runtime.ReadMemStats measures.

// Sizes of the program's parts.
const (
	templateSize = int(unsafe.Sizeof(Template{}))
	stmtSize     = int(unsafe.Sizeof(stmt{}))
	pipelineSize = int(unsafe.Sizeof(pipeline{}))
	commandSize  = int(unsafe.Sizeof(command{}))
	fieldRefSize = int(unsafe.Sizeof(fieldRef{}))
	slotSize     = int(unsafe.Sizeof(int(0)))
)

// cost is what t holds in memory, in bytes.
func (t *Template) computeCost() int {
	return alloc(templateSize) + alloc(len(t.text)) + stmtsCost(t.root)
}

func stmtsCost(list []stmt) int {
	if cap(list) == 0 {
		return 0
	}
	n := alloc(cap(list) * stmtSize)
	for i := range list {
		s := &list[i]
		if s.op == opText {
			n += alloc(len(s.text))
		}
		// s.vars shares its array with s.pipe.decl.
		n += pipelineCost(s.pipe) + stmtsCost(s.body) + stmtsCost(s.els)
	}
	return n
}

func pipelineCost(p *pipeline) int {
	if p == nil {
		return 0
	}
	n := alloc(pipelineSize) + alloc(cap(p.decl)*slotSize)
	if cap(p.cmds) > 0 {
		n += alloc(cap(p.cmds) * commandSize)
	}
	for i := range p.cmds {
		n += commandCost(&p.cmds[i])
	}
	return n
}

func commandCost(c *command) int {
	n := alloc(cap(c.chain)*fieldRefSize) + pipelineCost(c.pipe)
	if len(c.chain) > 0 && (c.op == cmdVar || len(c.chain) > 1) {
		// The parser joins such a chain ($x.A, .A.B) into a new string, which the names are
		// slices of; a variable's name is about two characters.
		joined := 2
		for _, f := range c.chain {
			joined += 1 + len(f.name)
		}
		n += alloc(joined)
	}
	if c.konst.kind == vString {
		n += alloc(len(c.konst.s)) // a constant made by unquoting; counted even when it is a slice of the text
	}
	if cap(c.args) > 0 {
		n += alloc(cap(c.args) * commandSize)
	}
	for i := range c.args {
		n += commandCost(&c.args[i])
	}
	return n
}

// alloc is the memory the Go allocator gives a request of size bytes: its size class up to
// 32 KiB (the runtime's table, runtime/sizeclasses.go), whole 8 KiB pages above.
func alloc(size int) int {
	if size == 0 {
		return 0
	}
	if size > sizeClasses[len(sizeClasses)-1] {
		return (size + 8191) &^ 8191
	}
	i, _ := slices.BinarySearch(sizeClasses, size)
	return sizeClasses[i]
}

var sizeClasses = []int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
	2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240,
	10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}
