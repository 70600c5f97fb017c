package alertmanager

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/khook-dev/khook/adapters/sources/alert"
	"github.com/khook-dev/khook/adapters/sources/settings"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

// Name is the source's name in configuration, logs, metrics and event.Event.Source.
const Name = "alertmanager"

// Defaults of the settings.
const (
	DefaultEventType          event.Type = "alert-firing"
	DefaultListenAddress                 = ":9095"
	DefaultMaxBodyBytes                  = 4 << 20
	DefaultMaxHeaderBytes                = 16 << 10
	DefaultMaxConnections                = 128
	DefaultMaxConcurrentPosts            = 4
	DefaultIdleTimeout                   = 30 * time.Second
	DefaultBodyReadTimeout               = 10 * time.Second
	DefaultMaxAlertsPerPost              = 1000
	DefaultMaxAlertsPerMinute            = 2000
	// WebhookPath is where Alertmanager posts.
	WebhookPath = "/webhook"
)

// Bounds of the settings.
const (
	minMaxBodyBytes, maxMaxBodyBytes           = 1 << 10, 64 << 20
	minMaxHeaderBytes, maxMaxHeaderBytes       = 4 << 10, 1 << 20
	maxMaxConnections                          = 10_000
	maxMaxConcurrentPosts                      = 64
	maxIdleTimeout, maxBodyReadTimeout         = 10 * time.Minute, 5 * time.Minute
	maxMaxAlertsPerPost, maxMaxAlertsPerMinute = 100_000, 1_000_000
)

// Why the webhook refuses a post: the reason label of khook_webhook_refused_total.
const (
	RefusedUnauthorized  = "unauthorized"    // 401: no or a wrong bearer token
	RefusedBodyTooLarge  = "body-too-large"  // 413: a body over maxBodyBytes
	RefusedTooManyAlerts = "too-many-alerts" // 413: more alerts than maxAlertsPerPost
	RefusedRateLimited   = "rate-limited"    // 503 with Retry-After: maxAlertsPerMinute used up
	RefusedMalformed     = "malformed"       // 400: not a version-4 webhook payload
	RefusedTimeout       = "timeout"         // 408: the body did not arrive within bodyReadTimeout
	RefusedBusy          = "busy"            // 503: khook could not take the alerts within 10 s
)

// RefusalReasons lists every reason, in the order above.
var RefusalReasons = []string{RefusedUnauthorized, RefusedBodyTooLarge, RefusedTooManyAlerts, RefusedRateLimited,
	RefusedMalformed, RefusedTimeout, RefusedBusy}

// readHeaderTimeout bounds the time a connection may take to send a request's headers.
const readHeaderTimeout = 10 * time.Second

// defaultEnqueueTimeout bounds how long a request waits for khook to take its alerts (and, apart,
// for a turn to be read) before answering 503, so that Alertmanager retries.
const defaultEnqueueTimeout = 10 * time.Second

// Metrics counts the posts the webhook refuses, by reason (one of RefusalReasons).
type Metrics interface {
	WebhookRefused(reason string)
}

// NoMetrics counts nothing.
type NoMetrics struct{}

func (NoMetrics) WebhookRefused(string) {}

// Source receives Alertmanager's webhook. Make one with New.
type Source struct {
	log     logr.Logger
	metrics Metrics
	clock   clock.PassiveClock

	// settings, set by Init
	listenAddress      string
	bearerToken        string
	maxBodyBytes       int64
	maxHeaderBytes     int
	maxConnections     int
	idleTimeout        time.Duration
	bodyReadTimeout    time.Duration
	maxAlertsPerPost   int
	maxAlertsPerMinute int
	eventType          event.Type

	posts  chan struct{} // a slot per post read and handled at once (maxConcurrentPosts)
	alerts *bucket       // alerts taken per minute

	addr           chan net.Addr // the address of the latest listener, for tests
	listener       atomic.Pointer[limitListener]
	episodes       *episodes
	enqueueTimeout time.Duration
}

var _ ports.EventSource = (*Source)(nil)

// New returns the source with its default settings; it counts refused posts into metrics (nil:
// nowhere).
func New(log logr.Logger, metrics Metrics) *Source {
	if metrics == nil {
		metrics = NoMetrics{}
	}
	s := &Source{
		log: log.WithName(Name), metrics: metrics, clock: clock.RealClock{}, listenAddress: DefaultListenAddress,
		maxBodyBytes: DefaultMaxBodyBytes, maxHeaderBytes: DefaultMaxHeaderBytes, maxConnections: DefaultMaxConnections,
		idleTimeout: DefaultIdleTimeout, bodyReadTimeout: DefaultBodyReadTimeout, maxAlertsPerPost: DefaultMaxAlertsPerPost,
		maxAlertsPerMinute: DefaultMaxAlertsPerMinute, eventType: DefaultEventType,
		posts: make(chan struct{}, DefaultMaxConcurrentPosts), addr: make(chan net.Addr, 1), episodes: newEpisodes(),
		enqueueTimeout: defaultEnqueueTimeout,
	}
	s.alerts = newBucket(s.maxAlertsPerMinute, s.clock.Now())
	return s
}

// Info implements ports.EventSource. The event type is the eventType setting once Init has
// read it.
func (s *Source) Info() ports.SourceInfo {
	return ports.SourceInfo{Name: Name, Version: "v1", EventTypes: []event.Type{s.eventType}}
}

// Init implements ports.EventSource. Settings (docs/sources.md): listenAddress (default
// ":9095"), bearerToken (default none: no check), maxBodyBytes (4 MiB), maxHeaderBytes (16 KiB),
// maxConnections (128), maxConcurrentPosts (4), idleTimeout (30s), bodyReadTimeout (10s),
// maxAlertsPerPost (1000), maxAlertsPerMinute (2000), eventType (alert-firing).
func (s *Source) Init(_ context.Context, raw ports.Settings) error {
	r := settings.New(raw)
	s.listenAddress = r.String("listenAddress", DefaultListenAddress)
	s.bearerToken = r.String("bearerToken", "")
	s.maxBodyBytes = int64(intIn(r, "maxBodyBytes", DefaultMaxBodyBytes, minMaxBodyBytes, maxMaxBodyBytes))
	s.maxHeaderBytes = intIn(r, "maxHeaderBytes", DefaultMaxHeaderBytes, minMaxHeaderBytes, maxMaxHeaderBytes)
	s.maxConnections = intIn(r, "maxConnections", DefaultMaxConnections, 1, maxMaxConnections)
	posts := intIn(r, "maxConcurrentPosts", DefaultMaxConcurrentPosts, 1, maxMaxConcurrentPosts)
	s.idleTimeout = durationIn(r, "idleTimeout", DefaultIdleTimeout, maxIdleTimeout)
	s.bodyReadTimeout = durationIn(r, "bodyReadTimeout", DefaultBodyReadTimeout, maxBodyReadTimeout)
	s.maxAlertsPerPost = intIn(r, "maxAlertsPerPost", DefaultMaxAlertsPerPost, 1, maxMaxAlertsPerPost)
	s.maxAlertsPerMinute = intIn(r, "maxAlertsPerMinute", DefaultMaxAlertsPerMinute, 1, maxMaxAlertsPerMinute)
	s.eventType = event.Type(r.String("eventType", string(DefaultEventType)))
	if s.maxAlertsPerPost > s.maxAlertsPerMinute {
		r.Fail("maxAlertsPerPost", "%d is more than maxAlertsPerMinute (%d): such a post could never be taken", s.maxAlertsPerPost, s.maxAlertsPerMinute)
	}
	if err := s.eventType.Validate(); err != nil {
		r.Fail("eventType", "%v", err)
	}
	if _, _, err := net.SplitHostPort(s.listenAddress); err != nil {
		r.Fail("listenAddress", "%q is not host:port: %v", s.listenAddress, err)
	}
	s.posts = make(chan struct{}, posts)
	s.alerts = newBucket(s.maxAlertsPerMinute, s.clock.Now())
	return r.Err()
}

// intIn reads the whole number at key, which must lie in [lo, hi].
func intIn(r *settings.Reader, key string, def, lo, hi int) int {
	v := r.Int(key, def)
	if v < lo || v > hi {
		r.Fail(key, "%d is not between %d and %d", v, lo, hi)
		return def
	}
	return v
}

// durationIn reads the positive duration at key, which must not exceed hi.
func durationIn(r *settings.Reader, key string, def, hi time.Duration) time.Duration {
	d := r.Duration(key, def)
	if d > hi {
		r.Fail(key, "%s is longer than %s", d, hi)
		return def
	}
	return d
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
//
// What one sender can make the server hold is bounded: maxConnections connections at once
// (more wait in the kernel's accept queue), each with at most maxHeaderBytes of headers read
// within 10 s and closed after idleTimeout without a request; maxConcurrentPosts bodies of at
// most maxBodyBytes, each read within bodyReadTimeout once its turn came; the bearer token is
// checked before a body is read.
func (s *Source) Watch(ctx context.Context, sink ports.EventSink, running func()) error {
	inner, err := net.Listen("tcp", s.listenAddress)
	if err != nil {
		return fmt.Errorf("listening for Alertmanager's webhook: %w", err)
	}
	ln := newLimitListener(inner, s.maxConnections)
	s.listener.Store(ln)
	select { // replace the previous attempt's address
	case <-s.addr:
	default:
	}
	s.addr <- ln.Addr()
	mux := http.NewServeMux()
	mux.Handle("POST "+WebhookPath, &handler{s: s, sink: sink, watchCtx: ctx})
	// A request's whole read is bounded even before the handler sets the body's own deadline.
	whole := readHeaderTimeout + s.enqueueTimeout + s.bodyReadTimeout
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       whole,
		WriteTimeout:      whole + s.enqueueTimeout,
		IdleTimeout:       s.idleTimeout,
		MaxHeaderBytes:    s.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logr.ToSlogHandler(s.log), slog.LevelInfo),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.log.Info("receiving Alertmanager's webhook", "address", ln.Addr().String(), "path", WebhookPath, "bearerToken", s.bearerToken != "",
		"maxConnections", s.maxConnections, "maxAlertsPerPost", s.maxAlertsPerPost, "maxAlertsPerMinute", s.maxAlertsPerMinute)
	if s.bearerToken == "" {
		s.log.Info("the webhook takes posts from anyone who reaches it: set bearerToken (the Helm chart does by default)")
	}
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
		w.Header().Set("Connection", "close") // a sender without the token keeps no connection
		s.refuse(w, RefusedUnauthorized, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	if empty, wait := s.alerts.empty(s.clock.Now()); empty { // not worth reading the body
		s.rateLimited(w, wait)
		return
	}
	// A turn to read and handle a body: bodies in memory are bounded by maxConcurrentPosts.
	if !h.turn(r.Context()) {
		s.refuse(w, RefusedBusy, http.StatusServiceUnavailable, "khook is busy; retry")
		return
	}
	defer func() { <-s.posts }()
	msg, ok := s.read(w, r)
	if !ok {
		return
	}
	if err := validate(msg); err != nil {
		s.refuse(w, RefusedMalformed, http.StatusBadRequest, "malformed webhook payload: "+err.Error())
		return
	}
	n := len(msg.Alerts)
	if n > s.maxAlertsPerPost {
		s.refuse(w, RefusedTooManyAlerts, http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"%d alerts in one post; khook takes at most %d (setting maxAlertsPerPost): set max_alerts: %d in Alertmanager's webhook_config",
			n, s.maxAlertsPerPost, s.maxAlertsPerPost))
		return
	}
	if ok, wait := s.alerts.take(n, s.clock.Now()); !ok {
		s.rateLimited(w, wait)
		return
	}
	events, changes, cut := s.events(msg)
	if cut > 0 {
		s.log.Info("alerts carried more than khook keeps: labels, annotations or fingerprints cut (docs/sources.md)", "alerts", cut, "group", clip(msg.GroupKey))
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.enqueueTimeout)
	defer cancel()
	stop := context.AfterFunc(h.watchCtx, cancel)
	defer stop()
	for _, e := range events {
		h.sink.Handle(ctx, e)
		if ctx.Err() != nil {
			// The sink may not have taken it: ask Alertmanager to send the group again, which
			// will take the alerts' tokens again.
			s.alerts.give(n)
			s.log.Info("khook is busy or stopping; asking Alertmanager to retry", "alerts", n)
			s.refuse(w, RefusedBusy, http.StatusServiceUnavailable, "khook could not record the alerts; retry")
			return
		}
	}
	s.episodes.apply(changes, s.clock.Now()) // only now: a retried request sees the same episodes
	if msg.TruncatedAlerts > 0 {
		s.log.Info("Alertmanager truncated a group: raise max_alerts of the webhook receiver", "group", clip(msg.GroupKey), "truncated", msg.TruncatedAlerts)
	}
	w.WriteHeader(http.StatusOK)
}

// turn waits for one of the maxConcurrentPosts slots, at most the enqueue timeout.
func (h *handler) turn(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, h.s.enqueueTimeout)
	defer cancel()
	stop := context.AfterFunc(h.watchCtx, cancel)
	defer stop()
	select {
	case h.s.posts <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// read decodes the body, at most maxBodyBytes within bodyReadTimeout; it answers the request
// itself when it cannot.
func (s *Source) read(w http.ResponseWriter, r *http.Request) (Message, bool) {
	if r.ContentLength > s.maxBodyBytes { // said so up front: not worth reading
		s.refuse(w, RefusedBodyTooLarge, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes (setting maxBodyBytes)", s.maxBodyBytes))
		return Message{}, false
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.bodyReadTimeout))
	var msg Message
	raw, err := readBody(http.MaxBytesReader(w, r.Body, s.maxBodyBytes), r.ContentLength)
	if err == nil {
		err = json.Unmarshal(raw, &msg)
	}
	// No deadline while the alerts are handed on: one passing then would cancel the request.
	_ = rc.SetReadDeadline(time.Time{})
	var tooLarge *http.MaxBytesError
	var netErr net.Error
	switch {
	case err == nil:
		return msg, true
	case errors.As(err, &tooLarge):
		s.refuse(w, RefusedBodyTooLarge, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes (setting maxBodyBytes)", s.maxBodyBytes))
	case errors.As(err, &netErr) && netErr.Timeout():
		w.Header().Set("Connection", "close")
		s.refuse(w, RefusedTimeout, http.StatusRequestTimeout, fmt.Sprintf("body not received within %s (setting bodyReadTimeout)", s.bodyReadTimeout))
	default:
		s.refuse(w, RefusedMalformed, http.StatusBadRequest, "malformed webhook payload: "+err.Error())
	}
	return Message{}, false
}

// readBody reads a body of contentLength bytes into one buffer of that size: a body held open
// costs its size, not the doubling buffer of a growing read. A body of unknown length (-1,
// chunked; Alertmanager always gives the length) grows as it is read.
func readBody(r io.Reader, contentLength int64) ([]byte, error) {
	if contentLength < 0 {
		return io.ReadAll(r)
	}
	buf := make([]byte, contentLength)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("body ends after fewer than its %d bytes: %w", contentLength, err)
		}
		return nil, err
	}
	return buf, nil
}

// rateLimited answers a post refused for maxAlertsPerMinute: 503, which Alertmanager retries
// (it retries 5xx answers only, not 429), with Retry-After for clients that read it.
func (s *Source) rateLimited(w http.ResponseWriter, wait time.Duration) {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.refuse(w, RefusedRateLimited, http.StatusServiceUnavailable,
		fmt.Sprintf("more than %d alerts a minute (setting maxAlertsPerMinute); retry in %d s", s.maxAlertsPerMinute, secs))
}

// refuse answers code with message and counts the refusal.
func (s *Source) refuse(w http.ResponseWriter, reason string, code int, message string) {
	s.metrics.WebhookRefused(reason)
	s.log.V(1).Info("refused a post", "reason", reason, "code", code, "message", clip(message))
	http.Error(w, message, code)
}

func validToken(header, token string) bool {
	got, ok := strings.CutPrefix(header, "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// clip cuts text from a sender for a log line or an answer.
func clip(s string) string {
	const n = 256
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// validate checks what the conversion needs of msg: version 4, and alerts with labels and a
// known status.
func validate(msg Message) error {
	if msg.Version != "4" {
		return fmt.Errorf("version %q is not supported (want \"4\")", clip(msg.Version))
	}
	for i, a := range msg.Alerts {
		if len(a.Labels) == 0 {
			return fmt.Errorf("alerts[%d] has no labels", i)
		}
		switch status(msg, a) {
		case "firing", "resolved":
		default:
			return fmt.Errorf("alerts[%d].status %q is neither firing nor resolved", i, clip(status(msg, a)))
		}
	}
	return nil
}

// status is a's status, or the message's when a has none.
func status(msg Message, a Alert) string {
	if a.Status == "" {
		return msg.Status
	}
	return a.Status
}

// events turns a validated msg into events: for a firing alert, its event (preceded by the
// resolution of its previous firing when the alert started again, with a new startsAt); for a
// resolved one, the resolution. The changes to the remembered episodes are applied once the
// events are taken. cut counts the alerts the conversion had to cut to khook's bounds.
func (s *Source) events(msg Message) (out []event.Event, changes []change, cut int) {
	now := s.clock.Now()
	out = make([]event.Event, 0, len(msg.Alerts))
	changes = make([]change, 0, len(msg.Alerts))
	for _, a := range msg.Alerts {
		in := alert.Alert{Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt, Fingerprint: a.Fingerprint}
		if !in.Fits() {
			cut++
		}
		e := in.Event(Name, s.eventType)
		if e.Timestamp.IsZero() {
			e.Timestamp = now
		}
		if status(msg, a) == "firing" {
			if s.episodes.restarted(e.Fingerprint, a.StartsAt) {
				out = append(out, alert.Resolved(e, a.StartsAt))
			}
			out = append(out, e)
			changes = append(changes, change{fp: e.Fingerprint, startsAt: a.StartsAt})
			continue
		}
		at := a.EndsAt
		if at.IsZero() {
			at = now
		}
		out = append(out, alert.Resolved(e, at))
		changes = append(changes, change{fp: e.Fingerprint, resolved: true})
	}
	return out, changes, cut
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
