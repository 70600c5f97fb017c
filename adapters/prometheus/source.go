package prometheus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
const Name = "prometheus"

// Defaults of the settings.
const (
	// DefaultEventType differs from Alertmanager's alert-firing: both sources may run, and one
	// event type belongs to one source.
	DefaultEventType  event.Type = "prometheus-alert"
	DefaultInterval              = 30 * time.Second
	maxDefaultTimeout            = 10 * time.Second
	// AlertsPath is the API the source polls, under the endpoint.
	AlertsPath = "/api/v1/alerts"
	// maxResponseBytes bounds a response.
	maxResponseBytes = 32 << 20
	// InternalType is the source's own name for the kind of event it reports, as the design
	// names it: a mapping of internalType PrometheusAlert applies to every alert (a mapping of
	// an alert's name takes over from it).
	InternalType = "PrometheusAlert"
	// MaxAlertLabelSets and MaxAlertLabels bound the alertLabels setting: sets, and labels in
	// one set.
	MaxAlertLabelSets = 100
	MaxAlertLabels    = 20
)

// Source polls Prometheus' alerts. Make one with New.
type Source struct {
	log    logr.Logger
	client *http.Client

	// settings, set by Init
	alertsURL   string
	interval    time.Duration
	timeout     time.Duration
	eventType   event.Type
	bearerToken string
	// alertLabels, when set, are the label sets an alert must have one of to be taken.
	alertLabels []map[string]string

	// active holds the firing alerts of the last poll by fingerprint, and polledAt when that
	// poll was. They outlive a failed Watch, so that an alert that disappears while the source
	// restarts still resolves.
	mu       sync.Mutex
	active   map[string]event.Event
	polledAt time.Time
}

var _ ports.EventSource = (*Source)(nil)

// New returns the source; it needs the endpoint setting before it can run.
func New(log logr.Logger) *Source {
	return &Source{log: log.WithName(Name), interval: DefaultInterval, eventType: DefaultEventType, active: map[string]event.Event{}}
}

// Info implements ports.EventSource. The event type is the eventType setting once Init has
// read it; it is also the type of the source's one kind, PrometheusAlert, and each alert carries
// its name (SourceType) for mappings.
func (s *Source) Info() ports.SourceInfo {
	return ports.SourceInfo{Name: Name, Version: "v1", EventTypes: []event.Type{s.eventType},
		InternalTypes: []ports.InternalType{{Name: InternalType, Type: s.eventType}}, NamedEvents: true}
}

// Init implements ports.EventSource. Settings: endpoint (required: Prometheus' base URL, such as
// http://prometheus.monitoring:9090), interval (default 30s), timeout (default the interval, at
// most 10s), eventType (default prometheus-alert), bearerToken (default none), alertLabels
// (default none: every alert; else a list of label sets, such as [{severity: critical},
// {team: platform}]: an alert is taken when it has every label of at least one set).
func (s *Source) Init(_ context.Context, raw ports.Settings) error {
	r := settings.New(raw)
	endpoint := r.RequiredString("endpoint")
	s.interval = r.Duration("interval", DefaultInterval)
	s.timeout = r.Duration("timeout", min(s.interval, maxDefaultTimeout))
	s.eventType = event.Type(r.String("eventType", string(DefaultEventType)))
	s.bearerToken = r.String("bearerToken", "")
	s.alertLabels = alertLabels(r)
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.Fail("endpoint", "%q is not an http(s) URL", endpoint)
		} else {
			u.Path = strings.TrimSuffix(u.Path, "/") + AlertsPath
			s.alertsURL = u.String()
		}
	}
	if err := s.eventType.Validate(); err != nil {
		r.Fail("eventType", "%v", err)
	}
	if err := r.Err(); err != nil {
		return err
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: s.timeout}
	}
	return nil
}

// alertLabels reads the alertLabels setting: a list of label sets, each a map of label names
// to values (the design writes one label per set: "- severity: critical").
func alertLabels(r *settings.Reader) []map[string]string {
	const key = "alertLabels"
	list := r.List(key)
	if list == nil {
		return nil
	}
	if len(list) == 0 || len(list) > MaxAlertLabelSets {
		r.Fail(key, "lists %d label sets: list 1 to %d, or leave the setting out to take every alert", len(list), MaxAlertLabelSets)
		return nil
	}
	sets := make([]map[string]string, 0, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok || len(m) == 0 || len(m) > MaxAlertLabels {
			r.Fail(key, "item %d: want a map of 1 to %d labels to their values, such as {severity: critical}, got %v", i, MaxAlertLabels, item)
			return nil
		}
		set := make(map[string]string, len(m))
		for name, v := range m {
			value, isString := v.(string)
			if !isString || name == "" {
				r.Fail(key, "item %d: label %q: want a string value (quote numbers: \"500\"), got %v (%T)", i, name, v, v)
				return nil
			}
			set[name] = value
		}
		sets = append(sets, set)
	}
	return sets
}

// takes says whether an alert with labels is one the alertLabels setting takes.
func (s *Source) takes(labels map[string]string) bool {
	if s.alertLabels == nil {
		return true
	}
	for _, set := range s.alertLabels {
		if hasAll(labels, set) {
			return true
		}
	}
	return false
}

func hasAll(labels, set map[string]string) bool {
	for name, value := range set {
		if v, ok := labels[name]; !ok || v != value {
			return false
		}
	}
	return true
}

// Stop implements ports.EventSource.
func (s *Source) Stop(context.Context) error { return nil }

// Watch implements ports.EventSource: it polls every interval until ctx is done, and fails
// (for the router to restart it) when a poll fails. It says it runs after its first poll.
func (s *Source) Watch(ctx context.Context, sink ports.EventSink, running func()) error {
	if s.alertsURL == "" {
		return errors.New("the endpoint setting is required")
	}
	s.log.Info("polling Prometheus' alerts", "url", s.alertsURL, "interval", s.interval.String(), "alertLabels", s.alertLabels)
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		if err := s.poll(ctx, sink); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		running()
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// poll delivers every firing alert, and the resolution of each alert that stopped firing.
func (s *Source) poll(ctx context.Context, sink ports.EventSink) error {
	alerts, err := s.fetch(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	firing := make(map[string]event.Event, len(alerts))
	for _, a := range alerts {
		if a.State != "firing" {
			continue // pending: not yet trouble
		}
		if !s.takes(a.Labels) {
			continue // alertLabels leaves it out
		}
		startsAt := now
		if a.ActiveAt != nil {
			startsAt = *a.ActiveAt
		}
		e := alert.Alert{Labels: a.Labels, Annotations: a.Annotations, StartsAt: startsAt}.Event(Name, s.eventType)
		withValue(&e, a.Value)
		firing[e.Fingerprint] = e
	}
	s.mu.Lock()
	previous, seen := s.active, s.polledAt
	s.mu.Unlock()
	for _, e := range firing {
		sink.Handle(ctx, e)
	}
	for fp, e := range previous {
		if _, still := firing[fp]; !still {
			// It stopped firing after the poll that last saw it: date the resolution then, not
			// now. An alert that resolved and went pending again between two polls carries
			// the activeAt of its new start, after that poll, so it fires again; dated now, the
			// new start would look older than the resolution and be ignored for a window.
			sink.Handle(ctx, alert.Resolved(e, seen))
		}
	}
	if ctx.Err() != nil {
		return ctx.Err() // not all delivered: the next Watch compares with the old state
	}
	s.mu.Lock()
	s.active, s.polledAt = firing, now
	s.mu.Unlock()
	return nil
}

// withValue puts the alert's value (its expression's latest sample, as Prometheus formats it,
// such as "1e+00") in e's metadata as "value". A label or annotation of that name keeps its
// place, as labels and annotations are the alert's own words; an alert without a value adds
// nothing.
func withValue(e *event.Event, value string) {
	if value == "" {
		return
	}
	if _, taken := e.Metadata["value"]; !taken {
		e.Metadata["value"] = value
	}
}

type apiAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
	ActiveAt    *time.Time        `json:"activeAt"`
	Value       string            `json:"value"`
}

type apiResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		Alerts []apiAlert `json:"alerts"`
	} `json:"data"`
}

func (s *Source) fetch(ctx context.Context) ([]apiAlert, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.alertsURL, nil)
	if err != nil {
		return nil, fmt.Errorf("polling %s: %w", s.alertsURL, err)
	}
	req.Header.Set("Accept", "application/json")
	if s.bearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+s.bearerToken)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("polling %s: %w", s.alertsURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("polling %s: reading the answer: %w", s.alertsURL, err)
	}
	if len(body) > maxResponseBytes {
		return nil, fmt.Errorf("polling %s: the answer is larger than %d bytes", s.alertsURL, maxResponseBytes)
	}
	var r apiResponse
	jsonErr := json.Unmarshal(body, &r)
	switch {
	case resp.StatusCode != http.StatusOK && jsonErr == nil && r.Error != "":
		return nil, fmt.Errorf("polling %s: HTTP %d: %s: %s", s.alertsURL, resp.StatusCode, r.ErrorType, r.Error)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("polling %s: HTTP %d: %s", s.alertsURL, resp.StatusCode, snippet(body))
	case jsonErr != nil:
		return nil, fmt.Errorf("polling %s: the answer is not Prometheus' alerts API: %w", s.alertsURL, jsonErr)
	case r.Status != "success":
		return nil, fmt.Errorf("polling %s: status %q: %s: %s", s.alertsURL, r.Status, r.ErrorType, r.Error)
	}
	return r.Data.Alerts, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
