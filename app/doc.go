// Package app wires khook together and is its public, embeddable entry point.
//
// Another operator adds khook to its own controller-runtime Manager:
//
//	k, err := app.SetupWithManager(ctx, mgr, app.Options{KagentURL: "http://kagent-controller.kagent:8083"})
//
// The Hook reconciler, the event sources and the background loops (status flush, sweep of quiet
// events, retry of failed calls) are added to the manager; all of them run only on the leader.
// The Nodes' readiness (Khook.Nodes, a ports.Nodes kept from the Node informer) is kept on
// every replica. The manager's scheme must include kagent.dev/v1alpha2 (AddToScheme), core/v1
// and events/v1.
//
// The wiring itself lives in wire.go (an injector for google/wire) and the generated
// wire_gen.go; `make generate` rebuilds it and `make verify` fails when it is stale.
package app
