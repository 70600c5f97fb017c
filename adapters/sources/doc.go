// Package sources runs khook's event sources: a Registry of the sources khook knows by name
// (built in, or added by an embedding operator), the Router that starts the enabled ones (and
// the Go plugins the configuration names) and fans their events into the pipeline, and the
// loaders of the two configuration files, event-watcher-config.yaml (LoadConfig) and
// event-mappings.yaml (LoadMappings).
//
// The Router isolates failures: a source whose Watch returns an error, panics, or returns nil
// before shutdown is logged, reported (Metrics, States, Ready) and restarted with backoff, and
// the other sources go on. Events pass through a buffer sharded by dedup key, one worker per
// shard, so that a firing and its resolution are never reordered.
//
// Sources are initialised by NewRouter (at start, so that a bad setting stops khook before it
// runs) and watched by Run (on the leader only). Init should only read settings: anything a
// source acquires belongs in Watch, because Stop is called only after Run. The router asks a
// source's Info again after Init, so settings may choose its event types.
//
// The user documentation is docs/sources.md.
package sources
