// Package matching answers "which hook configurations does this event match?" from an index by
// event type and namespace, so the cost of a lookup does not grow with the number of hooks.
//
// The rules:
//   - the event type must equal the configuration's event type exactly;
//   - a Hook sees events of its own namespace only;
//   - an event without a namespace (a cluster-wide alert, say) is seen by the Hooks in the
//     namespaces named as cluster-event namespaces when the index is made (typically the
//     controller's own namespace), and by no other Hook. Cluster-wide trouble therefore reaches
//     only the team that runs khook, never every tenant.
//
// The index also counts the Hooks that name each agent: Upsert and Remove say which agents came
// into use and which no Hook names any more, so that what is kept per agent (the metrics' series)
// lives only as long as some Hook names the agent. Match never looks at those counts.
package matching
