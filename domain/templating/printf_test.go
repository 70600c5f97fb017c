package templating

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/khook-dev/khook/domain/event"
)

// FuzzPrintfBound checks that printfBound and printBound never promise less than fmt writes, for
// any format the limits accept and arguments of every kind a template can make.
func FuzzPrintfBound(f *testing.F) {
	for _, seed := range []string{
		"%v", "%#v", "%+v", "% #x", "%+q", "%256.256f", "%-256.256e", "%[2]*d", "%[3]d %[1]s", "%!", "%",
		"%.256g", "%#256.256U", "%c%c%c", "%[1]v%v%v%v", "%x %X % X", "%T %q %8.3s", "%[0]d", "%[99]d", "%d %d %d %d %d %d %d",
	} {
		f.Add(seed, "h\x80é\u202e\U0001F600\x00", int64(-1<<63), 1.7976931348623157e308, true)
	}
	e := event.Event{Type: "pod-restart", ResourceName: "web", Message: "a\u200bb", Timestamp: time.Unix(0, 0),
		Metadata: map[string]string{"k": "v\x80", "é": strings.Repeat("x", 40)}, Tags: map[string]string{"t": "\u202e"}}
	g := Group{Subject: Subject{Kind: "Deployment", Namespace: "shop\x80", Name: "wéb"}, Resources: []string{"web-2", "\u202eweb-1", "", "é\x80"},
		ResourceCount: -1 << 62}
	f.Fuzz(func(t *testing.T, format, s string, n int64, x float64, b bool) {
		var d eventData
		d.reset(&e, &g)
		args := []value{stringValue(s), {kind: vInt, n: n}, {kind: vByte, n: n & 0xff}, {kind: vFloat, f: x}, boolValue(b),
			d.field(fMetadata), {kind: vData}, d.field(fTags), d.field(fSubject), d.field(fResources), listValue(1, 1, 3)}
		ifaces := make([]any, len(args))
		for i, a := range args {
			ifaces[i] = a.iface(&d)
		}
		for k := 0; k <= len(args); k++ {
			bound, problem := printfBound(format, args[:k], &d, 1<<30)
			if problem != "" {
				return
			}
			if got := len(fmt.Sprintf(format, ifaces[:k]...)); got > bound {
				t.Fatalf("printf %q with %d args wrote %d bytes, more than its bound of %d", format, k, got, bound)
			}
			bound = printBound(args[:k], &d, 1<<30)
			if got := len(fmt.Sprintln(ifaces[:k]...)); got > bound {
				t.Fatalf("println with %d args wrote %d bytes, more than its bound of %d", k, got, bound)
			}
		}
	})
}
