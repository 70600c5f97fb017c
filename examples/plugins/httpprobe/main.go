// Command httpprobe is an example khook event-source plugin: it probes a URL and reports
// "endpoint-down" while the URL fails (a transport error or an HTTP status of 500 or more),
// and resolves it when the URL answers again. It is the plugin author's contract in code:
//
//   - package main, built with the Go version, flags and module versions of the khook that
//     loads it: go build -trimpath -buildmode=plugin -o httpprobe.so ./examples/plugins/httpprobe
//   - var PluginMetadata ports.SourceInfo: the source's name (the file is <name>.so), version,
//     event types and, optionally, its own names for them (InternalTypes, for event mappings);
//   - func NewEventSource() ports.EventSource: a new, unconfigured source;
//   - Init reads settings only (package settings gives errors that name the setting); Watch
//     delivers until ctx is done, calls running once it delivers, and returns an error when it
//     cannot go on (khook restarts it with backoff); panics in goroutines of its own would stop
//     khook, so it starts none.
//
// Configuration (event-watcher-config.yaml):
//
//	pluginDirectory: /plugins
//	eventSources:
//	  - name: httpprobe
//	    settings:
//	      url: https://shop.example.com/healthz
//	      interval: 30s      # default 30s
//	      timeout: 5s        # default 5s
//	      namespace: shop    # the namespace whose Hooks get the events; default none (cluster-wide)
//	      resourceName: shop # default the URL's host
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/khook-dev/khook/adapters/sources/settings"
	"github.com/khook-dev/khook/domain/event"
	"github.com/khook-dev/khook/ports"
)

// EndpointDown is the event type this source provides.
const EndpointDown event.Type = "endpoint-down"

// PluginMetadata describes the source; khook reads it before calling NewEventSource. Its
// internal type is the design's SupportedEventTypes(): event mappings may name the kind
// EndpointDown (or its event type, endpoint-down) in internalType.
var PluginMetadata = ports.SourceInfo{Name: "httpprobe", Version: "v1", EventTypes: []event.Type{EndpointDown},
	InternalTypes: []ports.InternalType{{Name: "EndpointDown", Type: EndpointDown}}}

// NewEventSource makes the source.
func NewEventSource() ports.EventSource { return &source{} }

// main is not called: a plugin is loaded, not run. (It lets `go build ./...` build the package.)
func main() {}

type source struct {
	url          string
	interval     time.Duration
	namespace    string
	resourceName string
	client       *http.Client

	// down is whether the last probe failed; it outlives a restart of Watch, so that the
	// recovery is reported even then.
	down bool
	last event.Event
}

var _ ports.EventSource = (*source)(nil)

func (s *source) Info() ports.SourceInfo { return PluginMetadata }

func (s *source) Init(_ context.Context, raw ports.Settings) error {
	r := settings.New(raw)
	s.url = r.RequiredString("url")
	s.interval = r.Duration("interval", 30*time.Second)
	timeout := r.Duration("timeout", 5*time.Second)
	s.namespace = r.String("namespace", "")
	s.resourceName = r.String("resourceName", "")
	if s.url != "" {
		u, err := url.Parse(s.url)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.Fail("url", "%q is not an http(s) URL", s.url)
		} else if s.resourceName == "" {
			s.resourceName = u.Hostname()
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	s.client = &http.Client{Timeout: timeout}
	return nil
}

func (s *source) Watch(ctx context.Context, sink ports.EventSink, running func()) error {
	if s.client == nil {
		return errors.New("Init was not called")
	}
	running()
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		s.probe(ctx, sink)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// probe reports the endpoint down (again: repeats keep the event firing) or its recovery.
func (s *source) probe(ctx context.Context, sink ports.EventSink) {
	problem := s.check(ctx)
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	switch {
	case problem != "":
		s.last = event.Event{
			Type: EndpointDown, ResourceKind: "Endpoint", ResourceName: s.resourceName, Namespace: s.namespace,
			Reason: "ProbeFailed", Message: fmt.Sprintf("%s: %s", s.url, problem), Timestamp: now, Source: PluginMetadata.Name,
			Metadata: map[string]string{"url": s.url, "problem": problem},
		}
		s.down = true
		sink.Handle(ctx, s.last)
	case s.down:
		resolved := s.last
		resolved.Resolution, resolved.Timestamp, resolved.Message = event.Recovered, now, s.url+" answers again"
		s.down = false
		sink.Handle(ctx, resolved)
	}
}

// check returns what is wrong with the endpoint, or "".
func (s *source) check(ctx context.Context) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err.Error()
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return "HTTP " + resp.Status
	}
	return ""
}

func (s *source) Stop(context.Context) error { return nil }
