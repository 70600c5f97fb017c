package kubernetes_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr/testr"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/khook-dev/khook/adapters/kubernetes"
	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/ports"
)

// auditFixture is a Hook in a namespace of its own and a recorder writing its audit trail.
type auditFixture struct {
	ns       string
	hook     *v1alpha2.Hook
	recorder *kubernetes.AuditRecorder
}

type auditOption func(*kubernetes.AuditRecorder)

func queueSize(n int) auditOption { return func(a *kubernetes.AuditRecorder) { a.QueueSize = n } }

func newAuditFixture(t *testing.T, opts ...auditOption) *auditFixture {
	t.Helper()
	ns := newNamespace(t)
	h := &v1alpha2.Hook{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "restarts"},
		Spec: v1alpha2.HookSpec{EventConfigurations: []v1alpha2.EventConfiguration{{
			EventType: "pod-restart", AgentRef: &v1alpha2.AgentReference{Namespace: "kagent", Name: "k8s-agent"}, Prompt: "{{.ResourceName}}",
		}}},
	}
	create(t, h)
	rec := &kubernetes.AuditRecorder{Client: k8s, Clock: clocktesting.NewFakeClock(time.Now()), Instance: "khook-0", Log: testr.New(t)}
	for _, o := range opts {
		o(rec)
	}
	return &auditFixture{ns: ns, hook: h, recorder: rec}
}

// start runs the recorder's writer until the test ends.
func (f *auditFixture) start(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.recorder.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("audit writer stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the audit writer did not stop after its context ended")
		}
	})
}

func (f *auditFixture) record(kind ports.AuditKind, pod, msg string) {
	rec := ports.AuditRecord{Kind: kind, Message: msg, Warning: kind == ports.AuditDeliveryFailed}
	if pod != "" {
		rec.Resource = ports.ResourceRef{Kind: "Pod", Namespace: f.ns, Name: pod}
	}
	f.recorder.Record(context.Background(), hook.Ref{Namespace: f.ns, Name: f.hook.Name}, rec)
}

// events waits until the Hook has want audit Events and returns them.
func (f *auditFixture) events(t *testing.T, want int) []eventsv1.Event {
	t.Helper()
	var got []eventsv1.Event
	eventually(t, fmt.Sprintf("%d audit events", want), func() error {
		var list eventsv1.EventList
		if err := k8s.List(context.Background(), &list, client.InNamespace(f.ns)); err != nil {
			return err
		}
		got = got[:0]
		for _, e := range list.Items {
			if e.Regarding.Kind == "Hook" && e.Regarding.Name == f.hook.Name {
				got = append(got, e)
			}
		}
		if len(got) != want {
			return fmt.Errorf("%d audit events, want %d", len(got), want)
		}
		return nil
	})
	return got
}

func TestSixFiringsForSixPodsAreSixEventsEachRelatedToItsPod(t *testing.T) {
	f := newAuditFixture(t)
	f.start(t)
	var pods []string
	for i := range 6 {
		pod := fmt.Sprintf("web-%d", i)
		pods = append(pods, pod)
		f.record(ports.AuditFiring, pod, "pod-restart on "+pod+": Back-off restarting failed container app")
	}

	var related []string
	for _, e := range f.events(t, 6) {
		if e.Reason != "EventFiring" || e.Action != "Fire" || e.Type != "Normal" || e.ReportingController != "kagent.dev/khook" || e.ReportingInstance != "khook-0" {
			t.Fatalf("event = %+v", e)
		}
		if e.Regarding.UID != f.hook.UID || e.Regarding.APIVersion != "kagent.dev/v1alpha2" {
			t.Fatalf("regarding = %+v, want the Hook with UID %s", e.Regarding, f.hook.UID)
		}
		if e.Related == nil || e.Related.Kind != "Pod" || e.Related.APIVersion != "v1" || e.Related.Namespace != f.ns {
			t.Fatalf("related = %+v, want a v1 Pod in %s", e.Related, f.ns)
		}
		if !strings.Contains(e.Note, e.Related.Name+":") {
			t.Fatalf("the note %q is not about its related pod %s", e.Note, e.Related.Name)
		}
		related = append(related, e.Related.Name)
	}
	slices.Sort(related)
	if !slices.Equal(related, pods) {
		t.Fatalf("related pods = %v, want %v", related, pods)
	}
}

func TestA5KBMessageIsCutToTheAPIsLimitAndAccepted(t *testing.T) {
	f := newAuditFixture(t)
	f.start(t)
	// "é" is two bytes, so the cut at the limit falls inside a character unless it is careful.
	msg := "xx" + strings.Repeat("é", 2500)
	f.record(ports.AuditDeliveryFailed, "web-1", msg)

	e := f.events(t, 1)[0]
	if len(e.Note) > kubernetes.NoteLimit || !utf8.ValidString(e.Note) || !strings.HasSuffix(e.Note, "…") {
		t.Fatalf("note of %d bytes (valid UTF-8: %v) ending %q", len(e.Note), utf8.ValidString(e.Note), e.Note[len(e.Note)-6:])
	}
	if !strings.HasPrefix(msg, strings.TrimSuffix(e.Note, "…")) || len(e.Note) < kubernetes.NoteLimit-4 {
		t.Fatalf("the note (%d bytes) is not the message's beginning cut near the limit", len(e.Note))
	}
	if e.Type != "Warning" || e.Action != "Deliver" {
		t.Fatalf("a failed delivery is type %s, action %s; want Warning, Deliver", e.Type, e.Action)
	}
}

func TestANoteCarriesNoLineBreakNorControlNorInvisibleCharacters(t *testing.T) {
	f := newAuditFixture(t)
	f.start(t)
	f.record(ports.AuditFiring, "web-1", "pod-restart on web-1: line one\nFAKE: all clear\r\x1b[31mred\x1b[0m \u202egnirts\u202c zero\u200bwidth\ufefftail")
	e := f.events(t, 1)[0]
	if strings.ContainsAny(e.Note, "\n\r\x1b\u202e\u202c\u200b\ufeff") {
		t.Fatalf("note %q keeps a line break, a control or an invisible format character", e.Note)
	}
	if want := "pod-restart on web-1: line one FAKE: all clear [31mred[0m gnirts zerowidthtail"; e.Note != want {
		t.Fatalf("note %q, want %q", e.Note, want)
	}
}

func TestTwoStateChangesAboutOnePodAreTwoEvents(t *testing.T) {
	f := newAuditFixture(t)
	f.start(t)
	f.record(ports.AuditFiring, "web-1", "pod-restart on web-1: crash-looping")
	f.record(ports.AuditResolved, "web-1", "pod-restart on web-1: recovered")

	var reasons []string
	for _, e := range f.events(t, 2) {
		if e.Related == nil || e.Related.Name != "web-1" {
			t.Fatalf("related = %+v, want web-1", e.Related)
		}
		reasons = append(reasons, e.Reason+"/"+e.Action)
	}
	slices.Sort(reasons)
	if want := []string{"EventFiring/Fire", "EventResolved/Resolve"}; !slices.Equal(reasons, want) {
		t.Fatalf("reasons/actions = %v, want %v", reasons, want)
	}
	if s := f.recorder.Stats(); s.Written != 2 || s.Dropped != 0 || s.Failed != 0 {
		t.Fatalf("stats = %+v, want 2 written", s)
	}
}

func TestAFullQueueDropsAndCountsInsteadOfBlocking(t *testing.T) {
	f := newAuditFixture(t, queueSize(2))
	done := make(chan struct{})
	go func() { // the writer is not running: only two records fit
		defer close(done)
		for i := range 5 {
			f.record(ports.AuditFiring, fmt.Sprintf("web-%d", i), "firing")
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Record blocked on a full queue")
	}
	if s := f.recorder.Stats(); s.Dropped != 3 || s.Written != 0 {
		t.Fatalf("stats = %+v, want 3 dropped", s)
	}

	f.start(t)
	var related []string
	for _, e := range f.events(t, 2) {
		related = append(related, e.Related.Name)
	}
	slices.Sort(related)
	if !slices.Equal(related, []string{"web-0", "web-1"}) {
		t.Fatalf("written = %v, want the two queued records", related)
	}
}

func TestARecordAboutAHookAloneHasNoRelatedObject(t *testing.T) {
	f := newAuditFixture(t)
	f.start(t)
	f.record(ports.AuditHookNotAccepted, "", "agent kagent/k8s-agent: not found")
	if e := f.events(t, 1)[0]; e.Related != nil || e.Action != "Validate" || e.Reason != "HookNotAccepted" {
		t.Fatalf("event = %+v, want no related object, action Validate", e)
	}
}

func TestActionOf(t *testing.T) {
	tests := []struct {
		name string
		kind ports.AuditKind
		want string
	}{
		{"a firing is Fire", ports.AuditFiring, "Fire"},
		{"an agent accepting a firing is Deliver", ports.AuditDelivered, "Deliver"},
		{"a failed delivery is Deliver", ports.AuditDeliveryFailed, "Deliver"},
		{"an abandoned delivery is Deliver", ports.AuditUndeliverable, "Deliver"},
		{"a completed investigation is Investigate", ports.AuditInvestigationCompleted, "Investigate"},
		{"an investigation needing a person is Investigate", ports.AuditInputRequired, "Investigate"},
		{"a resolution is Resolve", ports.AuditResolved, "Resolve"},
		{"a prompt that does not render is RenderPrompt", ports.AuditTemplateFailed, "RenderPrompt"},
		{"a Hook refused is Validate", ports.AuditHookNotAccepted, "Validate"},
		{"an unknown kind is Record", "SomethingElse", "Record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kubernetes.ActionOf(tt.kind); got != tt.want {
				t.Fatalf("ActionOf(%s) = %s, want %s", tt.kind, got, tt.want)
			}
		})
	}
}

func TestCutNote(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantLen int
		cut     bool
	}{
		{"a short note is kept", "hello", 5, false},
		{"a note of exactly the limit is kept", strings.Repeat("a", 1024), 1024, false},
		{"a longer note is cut to the limit with an ellipsis", strings.Repeat("a", 1025), 1024, true},
		{"a cut never splits a character", strings.Repeat("€", 400), 1023, true}, // 3-byte runes: 340 of them + "…"
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := kubernetes.CutNote(tt.in)
			if len(got) != tt.wantLen || !utf8.ValidString(got) || strings.HasSuffix(got, "…") != tt.cut {
				t.Fatalf("CutNote = %d bytes (valid %v), want %d (cut: %v)", len(got), utf8.ValidString(got), tt.wantLen, tt.cut)
			}
		})
	}
}
