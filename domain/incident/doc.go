// Package incident says what trouble is about and gathers it: one incident is one Hook's trouble
// of one event type about one subject, and one investigation is started for it.
//
// The dedup store keeps each resource's firing (event.Key); an incident groups the firings of
// one subject (its members) and lives from the first member's firing until the last member has
// resolved. A Hook's configuration says what the subject of a firing is (GroupBy): the resource
// itself, as every Hook does today, and, to come, its workload, its node or an alert group.
//
// The Registry keeps each Hook's incidents: which are open, their members (the first MaxMembers
// named, all counted), the occurrence that opened each, and how each ended. It is safe for
// concurrent use; no method walks more than one Hook's incidents, and none is on the path of a
// duplicate event.
package incident
