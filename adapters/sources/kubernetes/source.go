package kubernetes

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/go-logr/logr"

	"github.com/khook-dev/khook/adapters/sources/settings"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

// SourceName is the Source of every event this package produces.
const SourceName = "kubernetes"

// NamespaceFilter says whether events of a namespace can matter; the matching index is one.
type NamespaceFilter interface {
	WatchesNamespace(ns string) bool
}

// EventSource turns Kubernetes Events and Pod status into khook events, from the manager's
// shared informers. Trouble a Pod shows (pending, crash-looping) fires while it holds, is
// re-asserted every third of the window so that silence never resolves it, and is resolved
// when the Pod recovers or is deleted; see docs/kubernetes-detection.md.
type EventSource struct {
	// Cache gives the shared informers, and the Pod an Event is about.
	Cache  cache.Cache
	Filter NamespaceFilter
	// Clock tells the time and drives the periodic scan of the pods followed.
	Clock clock.WithTicker
	// MaxAge is the dedup window: Events and Pod terminations older than this when first seen
	// are history, not news.
	MaxAge EventMaxAge
	Log    logr.Logger
	// Metrics counts the Events dropped as untrustworthy; nil counts nothing.
	Metrics SourceMetrics
	// Owners finds what runs a Pod's ReplicaSet or Job (a Deployment, a CronJob) for the
	// event's Workload (owners.go); nil names the ReplicaSet or Job itself.
	Owners OwnerLookup

	settings sourceSettings
}

// SourceMetrics counts the Events the source drops before any work.
type SourceMetrics interface {
	// EventDropped counts one; reason is "cross-namespace".
	EventDropped(source, reason string)
}

var _ ports.EventSource = (*EventSource)(nil)

// EventMaxAge is how old an Event listed at start-up may be and still count as news; the app
// sets it to the dedup window.
type EventMaxAge time.Duration

// The settings the Kubernetes source takes (its entry in the event-watcher configuration).
const (
	SettingPendingGracePeriod      = "pendingGracePeriod"
	SettingRestartRecoveryTime     = "restartRecoveryTime"
	SettingNodeNotReadyGracePeriod = "nodeNotReadyGracePeriod"
	SettingNamespaces              = "namespaces"
	SettingEventTypes              = "eventTypes"
)

// MaxNamespaces bounds the namespaces setting.
const MaxNamespaces = 1000

// InternalTypes are the source's own names for the kinds of trouble it reports, as the design
// names them: event mappings and the eventTypes setting may use them.
var InternalTypes = []ports.InternalType{
	{Name: "PodRestart", Type: event.PodRestart},
	{Name: "PodPending", Type: event.PodPending},
	{Name: "OOMKill", Type: event.OOMKill},
	{Name: "ProbeFailed", Type: event.ProbeFailed},
	{Name: "NodeNotReady", Type: event.NodeNotReady},
}

type sourceSettings struct {
	pendingGrace, restartRecovery, nodeGrace time.Duration
	// namespaces, when not nil, are the only namespaces whose trouble the source reports.
	namespaces map[string]bool
	// types, when not nil, are the only event types the source reports; reported lists them in
	// the order of event.KubernetesTypes.
	types    map[event.Type]bool
	reported []event.Type
	set      bool // Init ran
}

// Info implements ports.EventSource. Its event types are those the eventTypes setting chose
// (all five without it); its internal types are always all five, so that a mapping of a kind
// the setting left out is known (and never applies) rather than refused.
func (s *EventSource) Info() ports.SourceInfo {
	types := event.KubernetesTypes
	if s.settings.reported != nil {
		types = s.settings.reported
	}
	return ports.SourceInfo{Name: SourceName, Version: "v2", EventTypes: types, InternalTypes: InternalTypes}
}

// Init implements ports.EventSource. It takes five settings:
//
//	pendingGracePeriod       a Go duration ("90s", "2m"), default 1m
//	restartRecoveryTime      a Go duration, default 5m
//	nodeNotReadyGracePeriod  a Go duration, default 1m
//	namespaces               a list of namespaces: the source reports only trouble in them
//	                         (cluster-scoped trouble, such as a Node's OOMKilling or
//	                         node-not-ready, is still reported); default every namespace that
//	                         has Hooks
//	eventTypes               a list of the kinds of trouble to report, each by its internal
//	                         name (PodRestart, PodPending, OOMKill, ProbeFailed, NodeNotReady)
//	                         or its event type (pod-restart, …); default all five
//
// Settings left out take their defaults; any other key is refused. They are read with package
// adapters/sources/settings, like every source's: an error names its setting.
func (s *EventSource) Init(_ context.Context, raw ports.Settings) error {
	r := settings.New(raw)
	out := sourceSettings{
		pendingGrace:    durationSetting(r, SettingPendingGracePeriod, DefaultPendingGrace),
		restartRecovery: durationSetting(r, SettingRestartRecoveryTime, DefaultRestartRecovery),
		nodeGrace:       durationSetting(r, SettingNodeNotReadyGracePeriod, DefaultNodeNotReadyGrace),
		set:             true,
	}
	if v, ok := r.Value(SettingNamespaces); ok {
		var err error
		if out.namespaces, err = namespacesSetting(v); err != nil {
			r.Fail(SettingNamespaces, "%v", err)
		}
	}
	if v, ok := r.Value(SettingEventTypes); ok {
		var err error
		if out.types, out.reported, err = typesSetting(v); err != nil {
			r.Fail(SettingEventTypes, "%v", err)
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	s.settings = out
	return nil
}

// stringsSetting reads a non-empty list of non-empty strings of at most limit items.
func stringsSetting(v any, what string, limit int) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list of %s, such as [a, b], got %s", what, describeSetting(v))
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("lists no %s: list at least one, or leave the setting out", what)
	}
	if len(list) > limit {
		return nil, fmt.Errorf("lists %d %s, more than %d", len(list), what, limit)
	}
	out := make([]string, len(list))
	for i, item := range list {
		str, ok := item.(string)
		if !ok || str == "" {
			return nil, fmt.Errorf("item %d: want one of the %s, got %s", i, what, describeSetting(item))
		}
		out[i] = str
	}
	return out, nil
}

func namespacesSetting(v any) (map[string]bool, error) {
	list, err := stringsSetting(v, "namespaces", MaxNamespaces)
	if err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(list))
	for _, ns := range list {
		if problems := validation.IsDNS1123Label(ns); len(problems) > 0 {
			return nil, fmt.Errorf("%q is not a namespace name: %s", ns, strings.Join(problems, "; "))
		}
		set[ns] = true
	}
	return set, nil
}

func typesSetting(v any) (map[event.Type]bool, []event.Type, error) {
	list, err := stringsSetting(v, "event types", 2*len(InternalTypes))
	if err != nil {
		return nil, nil, err
	}
	set := map[event.Type]bool{}
	for _, name := range list {
		t, ok := kindNamed(name)
		if !ok {
			var known []string
			for _, k := range InternalTypes {
				known = append(known, k.Name)
			}
			for _, t := range event.KubernetesTypes {
				known = append(known, string(t))
			}
			return nil, nil, fmt.Errorf("%q is not a kind of trouble the source reports (known: %s)", name, strings.Join(known, ", "))
		}
		set[t] = true
	}
	var reported []event.Type
	for _, t := range event.KubernetesTypes {
		if set[t] {
			reported = append(reported, t)
		}
	}
	return set, reported, nil
}

// kindNamed finds a kind of trouble by its internal name or its event type.
func kindNamed(name string) (event.Type, bool) {
	for _, k := range InternalTypes {
		if k.Name == name || string(k.Type) == name {
			return k.Type, true
		}
	}
	return "", false
}

func describeSetting(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	default:
		return fmt.Sprintf("%v (%T)", v, v)
	}
}

// watches says whether trouble in namespace ns can matter: the namespaces setting lists it (or
// there is none) and the namespace has Hooks.
func (s *EventSource) watches(ns string) bool {
	if s.settings.namespaces != nil && !s.settings.namespaces[ns] {
		return false
	}
	return s.Filter.WatchesNamespace(ns)
}

// reports says whether the eventTypes setting keeps events of type t.
func (s *EventSource) reports(t event.Type) bool {
	return s.settings.types == nil || s.settings.types[t]
}

// durationSetting reads a Go duration that may be zero (a grace period of none), or def when the
// setting is absent.
func durationSetting(r *settings.Reader, key string, def time.Duration) time.Duration {
	v, ok := r.Value(key)
	if !ok {
		return def
	}
	str, ok := v.(string)
	if !ok {
		r.Fail(key, "%v is not a duration such as \"90s\" or \"2m\"", v)
		return def
	}
	d, err := time.ParseDuration(str)
	if err != nil {
		r.Fail(key, "%q is not a duration such as \"90s\" or \"2m\": %v", str, err)
		return def
	}
	if d < 0 {
		r.Fail(key, "%q is negative", str)
		return def
	}
	return d
}

// Policy is the policy Watch uses: the settings Init took (or their defaults) and MaxAge.
func (s *EventSource) Policy() PodPolicy {
	set := s.settings
	if !set.set {
		set = sourceSettings{pendingGrace: DefaultPendingGrace, restartRecovery: DefaultRestartRecovery, nodeGrace: DefaultNodeNotReadyGrace}
	}
	return PodPolicy{PendingGrace: set.pendingGrace, RestartRecovery: set.restartRecovery, NodeGrace: set.nodeGrace,
		Window: time.Duration(s.MaxAge)}.withDefaults()
}

// Stop implements ports.EventSource; Watch removes its handlers itself.
func (s *EventSource) Stop(context.Context) error { return nil }

// message is one informer notification on its way to the loop that owns the trackers.
type message struct {
	old, pod *corev1.Pod     // a pod listed, created or changed (old nil unless changed)
	gone     *corev1.Pod     // a pod deleted
	ev       *eventsv1.Event // an Event created or changed that is news,
	news     event.Event     // and what it says
	node     *corev1.Node    // a node listed, created or changed
	goneNode *corev1.Node    // a node deleted
}

// Watch registers handlers on the shared informers, says it is running once they are in place,
// and removes them when ctx is done. One goroutine (this one) owns the trackers: informer
// handlers hand it their notifications, and a ticker from Clock drives the scan. Nodes are
// watched only when node-not-ready is reported (the eventTypes setting).
func (s *EventSource) Watch(ctx context.Context, sink ports.EventSink, running func()) error {
	events, err := s.Cache.GetInformer(ctx, &eventsv1.Event{})
	if err != nil {
		return fmt.Errorf("getting the events informer: %w", err)
	}
	pods, err := s.Cache.GetInformer(ctx, &corev1.Pod{})
	if err != nil {
		return fmt.Errorf("getting the pods informer: %w", err)
	}
	policy := s.Policy()
	track := newTracker(policy)
	owners := newWorkloads(s.Owners, s.Clock, s.Log)
	track.workloadOf = func(ns string, ref *metav1.OwnerReference) event.Workload { return owners.of(ctx, ns, ref) }
	inbox := make(chan message, 64)
	post := func(m message) {
		select {
		case inbox <- m:
		case <-ctx.Done():
		}
	}
	evReg, err := events.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if ev, ok := obj.(*eventsv1.Event); ok {
				if e, news := s.news(ev); news {
					post(message{ev: ev, news: e})
				}
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*eventsv1.Event)
			ev, ok2 := newObj.(*eventsv1.Event)
			// The same version is a resync; a new one is a repeat (a series count bump).
			if ok1 && ok2 && old.ResourceVersion != ev.ResourceVersion {
				if e, news := s.news(ev); news {
					post(message{ev: ev, news: e})
				}
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watching events: %w", err)
	}
	defer func() { _ = events.RemoveEventHandler(evReg) }()
	podReg, err := pods.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		// Listed pods are handled like new ones: what began within the window is news.
		AddFunc: func(obj any) {
			if pod, ok := obj.(*corev1.Pod); ok && s.watches(pod.Namespace) {
				post(message{pod: pod})
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*corev1.Pod)
			pod, ok2 := newObj.(*corev1.Pod)
			if ok1 && ok2 && old.ResourceVersion != pod.ResourceVersion && s.watches(pod.Namespace) {
				post(message{old: old, pod: pod})
			}
		},
		DeleteFunc: func(obj any) {
			if pod, ok := deletedPod(obj); ok && s.watches(pod.Namespace) {
				post(message{gone: pod})
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watching pods: %w", err)
	}
	defer func() { _ = pods.RemoveEventHandler(podReg) }()
	nodeTrack := newNodeTracker(policy)
	if s.reports(event.NodeNotReady) {
		remove, err := s.watchNodes(ctx, post)
		if err != nil {
			return err
		}
		defer remove()
	}
	ticker := s.Clock.NewTicker(policy.ScanInterval())
	defer ticker.Stop()
	namespaces := "every namespace with Hooks"
	if s.settings.namespaces != nil {
		namespaces = strings.Join(slices.Sorted(maps.Keys(s.settings.namespaces)), ", ")
	}
	s.Log.Info("watching Kubernetes events, pods and nodes", "window", policy.Window.String(),
		"pendingGracePeriod", policy.PendingGrace.String(), "restartRecoveryTime", policy.RestartRecovery.String(),
		"nodeNotReadyGracePeriod", policy.NodeGrace.String(),
		"reassertEvery", policy.Reassert().String(), "scanEvery", policy.ScanInterval().String(),
		"namespaces", namespaces, "eventTypes", s.Info().EventTypes)
	running()
	deliver := func(out []event.Event) {
		for _, e := range out {
			if !s.reports(e.Type) {
				continue // the eventTypes setting leaves it out; it never fired, so neither resolves
			}
			// Cluster-wide events (no namespace) go to the pipeline, whose index knows who gets them.
			if e.Namespace == "" || s.watches(e.Namespace) || e.Resolves() {
				sink.Handle(ctx, e)
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
			now := s.Clock.Now()
			deliver(track.scan(now, s.watches))
			deliver(nodeTrack.scan(now))
		case m := <-inbox:
			now := s.Clock.Now()
			switch {
			case m.node != nil:
				deliver(nodeTrack.nodeSeen(m.node, now))
			case m.goneNode != nil:
				deliver(nodeTrack.nodeGone(m.goneNode, now))
			case m.pod != nil:
				deliver(track.podSeen(m.old, m.pod, now))
			case m.gone != nil:
				deliver(track.podGone(m.gone, now))
			case m.ev != nil:
				if m.ev.Regarding.Kind == "Node" {
					m.news.Labels = s.nodeLabels(ctx, m.ev.Regarding.Name)
				}
				deliver(track.kubeEvent(m.ev, m.news, s.podOf(ctx, m.ev), now))
			}
		}
	}
}

// watchNodes registers handlers on the Node informer that post what the node tracker needs, and
// returns what removes them. An update between two Ready states is not posted: a Ready Node is
// not followed, and a Node's status changes at each heartbeat.
func (s *EventSource) watchNodes(ctx context.Context, post func(message)) (func(), error) {
	nodes, err := s.Cache.GetInformer(ctx, &corev1.Node{})
	if err != nil {
		return nil, fmt.Errorf("getting the nodes informer: %w", err)
	}
	reg, err := nodes.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if node, ok := obj.(*corev1.Node); ok {
				post(message{node: node})
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*corev1.Node)
			node, ok2 := newObj.(*corev1.Node)
			if ok1 && ok2 && old.ResourceVersion != node.ResourceVersion && (old.UID != node.UID || notReady(old) || notReady(node)) {
				post(message{node: node})
			}
		},
		DeleteFunc: func(obj any) {
			if node, ok := deletedNode(obj); ok {
				post(message{goneNode: node})
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("watching nodes: %w", err)
	}
	return func() { _ = nodes.RemoveEventHandler(reg) }, nil
}

// deletedNode is deletedPod for a Node.
func deletedNode(obj any) (*corev1.Node, bool) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	node, ok := obj.(*corev1.Node)
	return node, ok && node != nil
}

// deletedPod returns the Pod an informer's deletion is about: the object itself or, for a
// deletion seen late (after a lost watch), the last state known, which a tombstone carries.
func deletedPod(obj any) (*corev1.Pod, bool) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	return pod, ok && pod != nil
}

// news says what a Kubernetes Event means, if it is worth the loop's attention: it is about an
// object of its own namespace (see crossNamespace), it maps to a khook event, its namespace has
// Hooks (or it is about a cluster-scoped object), and it is not older than the window (history
// from before we started, or a series' stale refresh).
func (s *EventSource) news(ev *eventsv1.Event) (event.Event, bool) {
	if crossNamespace(ev) {
		if s.Metrics != nil {
			s.Metrics.EventDropped(SourceName, "cross-namespace")
		}
		if s.Log.V(1).Enabled() {
			s.Log.V(1).Info("dropped an Event about an object of another namespace", "event", ev.Namespace+"/"+ev.Name,
				"regarding", ev.Regarding.Namespace+"/"+ev.Regarding.Name)
		}
		return event.Event{}, false
	}
	e, ok := FromEvent(ev)
	if !ok || !s.reports(e.Type) || (e.Namespace != "" && !s.watches(e.Namespace)) {
		return e, false
	}
	return e, s.MaxAge <= 0 || s.Clock.Since(e.Timestamp) <= time.Duration(s.MaxAge)
}

// shared asks the cache for its own object, not a deep copy: the source only reads what it gets
// (nothing in this package writes to a Pod or a Node but the cache transforms, before the
// object is stored), so a Pod's labels are the cache's map, not a copy per Event.
var shared = &client.GetOptions{UnsafeDisableDeepCopy: ptr.To(true)}

// podOf returns the Pod an Event is about as the cache has it (shared: read it only), or nil.
func (s *EventSource) podOf(ctx context.Context, ev *eventsv1.Event) *corev1.Pod {
	if ev.Regarding.Kind != "Pod" || ev.Regarding.Namespace == "" {
		return nil
	}
	var pod corev1.Pod
	if err := s.Cache.Get(ctx, client.ObjectKey{Namespace: ev.Regarding.Namespace, Name: ev.Regarding.Name}, &pod, shared); err != nil {
		if !apierrors.IsNotFound(err) {
			s.Log.Error(err, "reading the pod an event is about", "pod", ev.Regarding.Namespace+"/"+ev.Regarding.Name)
		}
		return nil
	}
	return &pod
}

// nodeLabels returns the labels of Node name (an OOMKilling Event is about a Node) as the cache
// has them, shared, and none when the cache does not have the Node. The Node informer runs on
// every replica anyway (NodeStates).
func (s *EventSource) nodeLabels(ctx context.Context, name string) map[string]string {
	var node corev1.Node
	if err := s.Cache.Get(ctx, client.ObjectKey{Name: name}, &node, shared); err != nil {
		if !apierrors.IsNotFound(err) {
			s.Log.Error(err, "reading the node an event is about", "node", name)
		}
		return event.KnownLabels(nil)
	}
	return event.KnownLabels(node.Labels)
}

// crossNamespace reports whether ev, which lives in one namespace, is about an object of another.
// Whoever may create Events in namespace team-a could otherwise drive the Hooks, and the agents,
// of namespace team-b with text they wrote: such an Event is dropped (and counted). An Event about
// a cluster-scoped object (a Node) names no namespace and goes, as cluster-wide trouble, to the
// Hooks of the cluster event namespaces.
func crossNamespace(ev *eventsv1.Event) bool {
	return ev.Regarding.Namespace != "" && ev.Regarding.Namespace != ev.Namespace
}

var probeMessage = regexp.MustCompile(`(?i)\b(liveness|readiness|startup) probe\b`)

// FromEvent maps a Kubernetes Event to a khook event, by reason and the kind of object:
//
//	BackOff "Back-off restarting failed container" on a Pod → pod-restart
//	FailedScheduling on a Pod                                → pod-pending
//	Unhealthy with a liveness/readiness/startup probe message → probe-failed
//	OOMKilling (from the node's kernel monitor)               → oom-kill
//
// Anything else, such as Killing ("Stopping container", sent on every pod deletion), or
// BackOff pulling an image, is not trouble khook reports. The event carries no labels (an empty
// Labels, not nil: its Metadata are not its object's labels); FromPodEvent and the source add
// the labels of the Pod or the Node from the cache.
func FromEvent(ev *eventsv1.Event) (event.Event, bool) {
	t, ok := troubleOf(ev)
	if !ok {
		return event.Event{}, false
	}
	kind := ev.Regarding.Kind
	// A cluster-scoped object (a Node's OOMKilling) keeps an empty namespace, whatever namespace
	// the Event object itself lives in: it is cluster-wide trouble (see package matching).
	ns := ev.Regarding.Namespace
	meta := map[string]string{"eventName": ev.Name, "reportingController": ev.ReportingController}
	if ev.Regarding.FieldPath != "" {
		meta["fieldPath"] = ev.Regarding.FieldPath
	}
	return event.Event{
		Type: t, ResourceKind: kind, ResourceName: ev.Regarding.Name, Namespace: ns,
		Reason: ev.Reason, Message: ev.Note, Timestamp: timeOfEvent(ev), Source: SourceName, Metadata: meta,
		Labels: event.KnownLabels(nil), // an Event does not say its object's labels: the source adds them from its cache
	}, true
}

// troubleOf is the type of trouble ev reports, if any: FromEvent's decision, without building the
// event (the Event cache transform asks it too).
func troubleOf(ev *eventsv1.Event) (event.Type, bool) {
	kind, note := ev.Regarding.Kind, ev.Note
	switch {
	case ev.Reason == "BackOff" && kind == "Pod" && strings.Contains(strings.ToLower(note), "restarting failed container"):
		return event.PodRestart, true
	case ev.Reason == "FailedScheduling" && kind == "Pod":
		return event.PodPending, true
	case ev.Reason == "Unhealthy" && kind == "Pod" && probeMessage.MatchString(note):
		return event.ProbeFailed, true
	case ev.Reason == "OOMKilling":
		return event.OOMKill, true
	default:
		return "", false
	}
}

func timeOfEvent(ev *eventsv1.Event) time.Time {
	switch {
	case ev.Series != nil && !ev.Series.LastObservedTime.IsZero():
		return ev.Series.LastObservedTime.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	case !ev.DeprecatedLastTimestamp.IsZero():
		return ev.DeprecatedLastTimestamp.Time
	default:
		return ev.CreationTimestamp.Time
	}
}
