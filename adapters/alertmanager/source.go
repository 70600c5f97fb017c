package alertmanager

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/khook-dev/khook/adapters/sources/alert"
	"github.com/khook-dev/khook/adapters/sources/settings"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

// Name is the source's name in configuration, logs, metrics and event.Event.Source.
const Name = "alertmanager"

// Defaults of the settings.
const (
	DefaultEventType     event.Type = "alert-firing"
	DefaultListenAddress            = ":9095"
	DefaultMaxBodyBytes             = 4 << 20
	// WebhookPath is where Alertmanager posts.
	WebhookPath = "/webhook"
)

// defaultEnqueueTimeout bounds how long a request waits for khook to take its alerts before
// answering 503, so that Alertmanager retries.
const defaultEnqueueTimeout = 10 * time.Second

// Source receives Alertmanager's webhook. Make one with New.
type Source struct {
	log logr.Logger

	// settings, set by Init
	listenAddress string
	bearerToken   string
	maxBodyBytes  int64
	eventType     event.Type

	addr           chan net.Addr // the address of the latest listener, for tests
	episodes       *episodes
	enqueueTimeout time.Duration
}

var _ ports.EventSource = (*Source)(nil)

// New returns the source with its default settings.
func New(log logr.Logger) *Source {
	return &Source{
		log: log.WithName(Name), listenAddress: DefaultListenAddress, maxBodyBytes: DefaultMaxBodyBytes,
		eventType: DefaultEventType, addr: make(chan net.Addr, 1), episodes: newEpisodes(),
		enqueueTimeout: defaultEnqueueTimeout,
	}
}

// Info implements ports.EventSource. The event type is the eventType setting once Init has
// read it.
func (s *Source) Info() ports.SourceInfo {
	return ports.SourceInfo{Name: Name, Version: "v1", EventTypes: []event.Type{s.eventType}}
}

// Init implements ports.EventSource. Settings: listenAddress (default ":9095"), bearerToken
// (default none: no check), maxBodyBytes (default 4 MiB), eventType (default alert-firing).
func (s *Source) Init(_ context.Context, raw ports.Settings) error {
	r := settings.New(raw)
	s.listenAddress = r.String("listenAddress", DefaultListenAddress)
	s.bearerToken = r.String("bearerToken", "")
	s.maxBodyBytes = int64(r.Int("maxBodyBytes", DefaultMaxBodyBytes))
	s.eventType = event.Type(r.String("eventType", string(DefaultEventType)))
	if s.maxBodyBytes < 1024 {
		r.Fail("maxBodyBytes", "%d is less than 1024", s.maxBodyBytes)
	}
	if err := s.eventType.Validate(); err != nil {
		r.Fail("eventType", "%v", err)
	}
	if _, _, err := net.SplitHostPort(s.listenAddress); err != nil {
		r.Fail("listenAddress", "%q is not host:port: %v", s.listenAddress, err)
	}
	return r.Err()
}

// Stop implements ports.EventSource; Watch closes its listener itself.
func (s *Source) Stop(context.Context) error { return nil }

// Addr returns the address Watch listens on (useful with port 0), waiting for it until ctx is
// done.
func (s *Source) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case a := <-s.addr:
		s.addr <- a
		return a, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Watch implements ports.EventSource: it serves the webhook until ctx is done.
func (s *Source) Watch(ctx context.Context, sink ports.EventSink, running func()) error {
	ln, err := net.Listen("tcp", s.listenAddress)
	if err != nil {
		return fmt.Errorf("listening for Alertmanager's webhook: %w", err)
	}
	select { // replace the previous attempt's address
	case <-s.addr:
	default:
	}
	s.addr <- ln.Addr()
	mux := http.NewServeMux()
	mux.Handle("POST "+WebhookPath, &handler{s: s, sink: sink, watchCtx: ctx})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.log.Info("receiving Alertmanager's webhook", "address", ln.Addr().String(), "path", WebhookPath, "bearerToken", s.bearerToken != "")
	running()
	select {
	case err := <-served:
		return fmt.Errorf("serving Alertmanager's webhook on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			_ = srv.Close()
		}
		<-served
		return nil
	}
}

// Message is Alertmanager's webhook payload, version 4 (notify/webhook Message).
type Message struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"`
	Alerts            []Alert           `json:"alerts"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
}

// Alert is one alert of a Message.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

type handler struct {
	s        *Source
	sink     ports.EventSink
	watchCtx context.Context
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.s
	if s.bearerToken != "" && !validToken(r.Header.Get("Authorization"), s.bearerToken) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="khook"`)
		http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
		return
	}
	var msg Message
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.maxBodyBytes))
	if err := dec.Decode(&msg); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, fmt.Sprintf("body larger than %d bytes (setting maxBodyBytes)", s.maxBodyBytes), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "malformed webhook payload: "+err.Error(), http.StatusBadRequest)
		return
	}
	events, changes, err := s.events(msg)
	if err != nil {
		http.Error(w, "malformed webhook payload: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.enqueueTimeout)
	defer cancel()
	stop := context.AfterFunc(h.watchCtx, cancel)
	defer stop()
	for _, e := range events {
		h.sink.Handle(ctx, e)
		if ctx.Err() != nil {
			// The sink may not have taken it: ask Alertmanager to send the group again.
			s.log.Info("khook is busy or stopping; asking Alertmanager to retry", "alerts", len(msg.Alerts))
			http.Error(w, "khook could not record the alerts; retry", http.StatusServiceUnavailable)
			return
		}
	}
	s.episodes.apply(changes, time.Now()) // only now: a retried request sees the same episodes
	if msg.TruncatedAlerts > 0 {
		s.log.Info("Alertmanager truncated a group: raise max_alerts of the webhook receiver", "group", msg.GroupKey, "truncated", msg.TruncatedAlerts)
	}
	w.WriteHeader(http.StatusOK)
}

func validToken(header, token string) bool {
	got, ok := strings.CutPrefix(header, "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// events turns msg into events: for a firing alert, its event (preceded by the resolution of
// its previous firing when the alert started again, with a new startsAt); for a resolved one,
// the resolution. The changes to the remembered episodes are applied once the events are taken.
func (s *Source) events(msg Message) ([]event.Event, []change, error) {
	if msg.Version != "4" {
		return nil, nil, fmt.Errorf("version %q is not supported (want \"4\")", msg.Version)
	}
	now := time.Now()
	out := make([]event.Event, 0, len(msg.Alerts))
	changes := make([]change, 0, len(msg.Alerts))
	for i, a := range msg.Alerts {
		status := a.Status
		if status == "" {
			status = msg.Status
		}
		if len(a.Labels) == 0 {
			return nil, nil, fmt.Errorf("alerts[%d] has no labels", i)
		}
		e := alert.Alert{Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt, Fingerprint: a.Fingerprint}.Event(Name, s.eventType)
		if e.Timestamp.IsZero() {
			e.Timestamp = now
		}
		switch status {
		case "firing":
			if s.episodes.restarted(e.Fingerprint, a.StartsAt) {
				out = append(out, alert.Resolved(e, a.StartsAt))
			}
			out = append(out, e)
			changes = append(changes, change{fp: e.Fingerprint, startsAt: a.StartsAt})
		case "resolved":
			at := a.EndsAt
			if at.IsZero() {
				at = now
			}
			out = append(out, alert.Resolved(e, at))
			changes = append(changes, change{fp: e.Fingerprint, resolved: true})
		default:
			return nil, nil, fmt.Errorf("alerts[%d].status %q is neither firing nor resolved", i, status)
		}
	}
	return out, changes, nil
}

// episodes remembers when each firing alert started, so that an alert that fires again (a new
// startsAt for its fingerprint) whose resolution khook never received is a new firing. It
// forgets alerts not seen for a day, and remembers at most maxEpisodes.
type episodes struct {
	mu     sync.Mutex
	starts map[string]episode
	pruned time.Time
}

type episode struct{ startsAt, seen time.Time }

const (
	maxEpisodes = 100_000
	episodeTTL  = 24 * time.Hour
)

func newEpisodes() *episodes { return &episodes{starts: map[string]episode{}} }

// change is what one alert of a request changes in the episodes.
type change struct {
	fp       string
	startsAt time.Time
	resolved bool
}

// restarted reports whether fp is firing with an earlier start than startsAt.
func (m *episodes) restarted(fp string, startsAt time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, known := m.starts[fp]
	return known && startsAt.After(prev.startsAt)
}

// apply records the changes of a request whose events were taken.
func (m *episodes) apply(changes []change, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.pruned) > time.Minute || len(m.starts) >= maxEpisodes {
		for k, ep := range m.starts {
			if now.Sub(ep.seen) > episodeTTL {
				delete(m.starts, k)
			}
		}
		m.pruned = now
	}
	for _, c := range changes {
		if c.resolved {
			delete(m.starts, c.fp)
			continue
		}
		prev, known := m.starts[c.fp]
		if !known && len(m.starts) >= maxEpisodes {
			continue // forgetting an episode only loses the detection of a restart
		}
		startsAt := c.startsAt
		if known && startsAt.Before(prev.startsAt) {
			startsAt = prev.startsAt // an old notification arriving late
		}
		m.starts[c.fp] = episode{startsAt: startsAt, seen: now}
	}
}
