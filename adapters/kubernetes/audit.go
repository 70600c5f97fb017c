package kubernetes

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/khook-dev/khook/api/v1alpha2"
	"github.com/khook-dev/khook/domain/hook"
	"github.com/khook-dev/khook/domain/templating"
	"github.com/khook-dev/khook/ports"
)

// ReportingController is the reportingController of every audit Event.
const ReportingController = "kagent.dev/khook"

// Limits of the audit trail.
const (
	// NoteLimit is the longest note the events.k8s.io API accepts, in bytes.
	NoteLimit = 1024
	// DefaultAuditQueueSize is how many records may wait to be written before new ones are dropped.
	DefaultAuditQueueSize = 1024
	// auditDrainTimeout bounds how long the writer keeps writing what is queued once it is told
	// to stop.
	auditDrainTimeout = 5 * time.Second
	// auditWriteTimeout bounds one Event write.
	auditWriteTimeout = 10 * time.Second
)

// ReportingInstance names this replica in audit Events (their reportingInstance); empty means
// the host name, which in a pod is the pod's name.
type ReportingInstance string

// AuditRecorder keeps the audit trail as events.k8s.io/v1 Events regarding the Hook. It creates
// one Event per record, with a name of its own, so that no two records are ever merged (the
// tools/events recorder merges Events whose key ignores the note and folds repeats into a
// series written every 30 minutes):
//
//	regarding            the Hook (with its UID when the cache has it)
//	related              the affected resource (ports.AuditRecord.Resource) when it has a Kind
//	reason               the audit kind (EventFiring, AgentAccepted, EventResolved, …)
//	action               Fire, Resolve, Deliver, Investigate, RenderPrompt or Validate (ActionOf)
//	note                 the message on one line, without control or invisible format characters
//	                     (text from events and agents is a tenant's: it reaches people through
//	                     kubectl describe), cut to NoteLimit bytes on a UTF-8 boundary
//	reportingController  kagent.dev/khook; reportingInstance: Instance
//
// Record never waits on the API server: records go through a bounded queue that Start drains;
// when it is full a record is dropped and counted (Stats().Dropped).
type AuditRecorder struct {
	// Client creates the Events and reads the Hook (from the manager's cache).
	Client client.Client
	Clock  clock.PassiveClock
	// Instance is the reportingInstance; empty means the host name.
	Instance ReportingInstance
	// QueueSize bounds the records waiting to be written; zero means DefaultAuditQueueSize.
	QueueSize int
	// Metrics, optional, counts the records not written.
	Metrics AuditMetrics
	Log     logr.Logger

	init    sync.Once
	queue   chan auditItem
	written atomic.Uint64
	dropped atomic.Uint64
	failed  atomic.Uint64
}

var (
	_ ports.AuditRecorder            = (*AuditRecorder)(nil)
	_ manager.LeaderElectionRunnable = (*AuditRecorder)(nil)
)

type auditItem struct {
	ref hook.Ref
	rec ports.AuditRecord
	at  time.Time
}

// AuditStats counts what became of the records.
type AuditStats struct {
	Written uint64 // written as Events
	Dropped uint64 // dropped because the queue was full
	Failed  uint64 // the API server refused or did not answer
}

// NewAuditRecorder returns an audit recorder whose writer runs with mgr: it starts with the
// leader's other loops and stops when the manager does, after writing what is queued.
func NewAuditRecorder(mgr manager.Manager, clk clock.PassiveClock, instance ReportingInstance, metrics AuditMetrics, log logr.Logger) (*AuditRecorder, error) {
	a := &AuditRecorder{Client: mgr.GetClient(), Clock: clk, Instance: instance, Metrics: metrics, Log: log.WithName("audit")}
	if err := mgr.Add(a); err != nil {
		return nil, fmt.Errorf("adding the audit writer to the manager: %w", err)
	}
	return a, nil
}

func (a *AuditRecorder) setup() {
	a.init.Do(func() {
		size := a.QueueSize
		if size <= 0 {
			size = DefaultAuditQueueSize
		}
		a.queue = make(chan auditItem, size)
		if a.Instance == "" {
			host, err := os.Hostname()
			if err != nil || host == "" {
				host = "khook"
			}
			a.Instance = ReportingInstance(host)
		}
	})
}

// AuditMetrics counts audit records that were not written (queue full, or refused).
type AuditMetrics interface {
	AuditDropped()
}

func (a *AuditRecorder) countDropped() {
	if a.Metrics != nil {
		a.Metrics.AuditDropped()
	}
}

// Record queues rec for writing; it never blocks.
func (a *AuditRecorder) Record(_ context.Context, ref hook.Ref, rec ports.AuditRecord) {
	a.setup()
	select {
	case a.queue <- auditItem{ref: ref, rec: rec, at: a.Clock.Now()}:
	default:
		a.dropped.Add(1)
		a.countDropped()
		if log := a.Log.V(1); log.Enabled() {
			log.Info("audit queue full; record dropped", "hook", ref.String(), "kind", string(rec.Kind))
		}
	}
}

// Stats returns the counts so far. A metrics adapter can publish them, e.g. as a
// prometheus.NewCounterFunc reading Stats().Dropped.
func (a *AuditRecorder) Stats() AuditStats {
	return AuditStats{Written: a.written.Load(), Dropped: a.dropped.Load(), Failed: a.failed.Load()}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: records are made by the
// leader's pipeline and reconciler, and the writer stops together with them.
func (a *AuditRecorder) NeedLeaderElection() bool { return true }

// Start writes queued records until ctx is done, then writes what is still queued (for at most
// a few seconds) and returns. Records made after that are dropped and counted.
func (a *AuditRecorder) Start(ctx context.Context) error {
	a.setup()
	for {
		select {
		case it := <-a.queue:
			a.write(context.WithoutCancel(ctx), it) // a write under way finishes (bounded)
		case <-ctx.Done():
			drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditDrainTimeout)
			defer cancel()
			for {
				select {
				case it := <-a.queue:
					a.write(drainCtx, it)
				default:
					return nil
				}
			}
		}
	}
}

func (a *AuditRecorder) write(ctx context.Context, it auditItem) {
	ctx, cancel := context.WithTimeout(ctx, auditWriteTimeout)
	defer cancel()
	ev := a.eventFor(ctx, it)
	err := a.Client.Create(ctx, ev)
	if apierrors.IsAlreadyExists(err) { // a name taken by chance: draw another
		ev.Name, ev.ResourceVersion = eventName(it.ref.Name), ""
		err = a.Client.Create(ctx, ev)
	}
	if err != nil {
		a.failed.Add(1)
		a.countDropped()
		a.Log.Error(err, "writing audit event", "hook", it.ref.String(), "kind", string(it.rec.Kind))
		return
	}
	a.written.Add(1)
}

// eventFor builds the Event for one record.
func (a *AuditRecorder) eventFor(ctx context.Context, it auditItem) *eventsv1.Event {
	regarding := corev1.ObjectReference{
		APIVersion: v1alpha2.GroupVersion.String(), Kind: "Hook", Namespace: it.ref.Namespace, Name: it.ref.Name,
	}
	if it.rec.HookUID != "" {
		regarding.UID = types.UID(it.rec.HookUID) // the Hook the record is about, even if it is gone
	} else {
		var h v1alpha2.Hook
		if err := a.Client.Get(ctx, types.NamespacedName{Namespace: it.ref.Namespace, Name: it.ref.Name}, &h); err == nil {
			regarding.UID = h.UID
		}
	}
	typ := corev1.EventTypeNormal
	if it.rec.Warning {
		typ = corev1.EventTypeWarning
	}
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Namespace: it.ref.Namespace, Name: eventName(it.ref.Name)},
		EventTime:           metav1.NewMicroTime(it.at),
		ReportingController: ReportingController,
		ReportingInstance:   truncateBytes(string(a.Instance), 128),
		Action:              ActionOf(it.rec.Kind),
		Reason:              truncateBytes(string(it.rec.Kind), 128),
		Regarding:           regarding,
		Note:                CutNote(templating.Sanitize(it.rec.Message)),
		Type:                typ,
	}
	if r := it.rec.Resource; r.Kind != "" {
		ev.Related = &corev1.ObjectReference{APIVersion: apiVersionOf(r.Kind), Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
	}
	return ev
}

// actions maps each audit kind to its Event action: what khook did or tried.
var actions = map[ports.AuditKind]string{
	ports.AuditFiring:                 "Fire",
	ports.AuditResolved:               "Resolve",
	ports.AuditDelivered:              "Deliver",
	ports.AuditDeliveryFailed:         "Deliver",
	ports.AuditUndeliverable:          "Deliver",
	ports.AuditDeliveryUncertain:      "Deliver",
	ports.AuditInvestigationCompleted: "Investigate",
	ports.AuditInvestigationEnded:     "Investigate",
	ports.AuditInputRequired:          "Investigate",
	ports.AuditTemplateFailed:         "RenderPrompt",
	ports.AuditHookNotAccepted:        "Validate",
}

// ActionOf is the Event action for an audit kind; "Record" for a kind it does not know.
func ActionOf(k ports.AuditKind) string {
	if a, ok := actions[k]; ok {
		return a
	}
	return "Record"
}

// CutNote cuts s to NoteLimit bytes, on a UTF-8 boundary, ending a cut note with "…".
func CutNote(s string) string {
	if len(s) <= NoteLimit {
		return s
	}
	const ellipsis = "…"
	return truncateBytes(s, NoteLimit-len(ellipsis)) + ellipsis
}

// truncateBytes cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// eventName is a fresh name for an Event about the Hook name: <hook>.<16 hex digits>, the hook
// part cut so that the whole is a valid DNS subdomain.
func eventName(hookName string) string {
	const suffixLen = 1 + 16
	base := hookName
	if len(base) > 253-suffixLen {
		base = strings.TrimRight(base[:253-suffixLen], ".-")
	}
	return fmt.Sprintf("%s.%016x", base, rand.Uint64())
}

// coreKinds are the kinds of the core API group ("v1") an audit record may name.
var coreKinds = map[string]bool{
	"Pod": true, "Node": true, "Namespace": true, "Service": true, "PersistentVolumeClaim": true,
	"PersistentVolume": true, "ConfigMap": true, "Secret": true, "ServiceAccount": true,
	"ReplicationController": true, "Endpoints": true,
}

func apiVersionOf(kind string) string {
	if coreKinds[kind] {
		return "v1"
	}
	return ""
}
