// Package event defines the Event value that every source produces and the key that dedup uses
// to recognise the same trouble seen again.
package event
