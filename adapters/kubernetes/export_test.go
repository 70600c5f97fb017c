package kubernetes

// AllowListChanged is the predicate of the reconciler's Namespace watch.
var AllowListChanged = allowListChanged
