// Package hook defines the domain's view of a Hook: which event types it reacts to, which agent
// it calls for each and with which prompt. It is what the Kubernetes adapter turns a Hook custom
// resource into, and what matching, dedup and the pipeline work with.
package hook
