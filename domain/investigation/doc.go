// Package investigation is the investigation as khook keeps it on the API server: one object per
// incident (see package incident), with what it is about (its subject, its start, the event that
// opened it) and what became of it (its members, one delivery per agent, its phase).
//
// View turns an incident and its delivery records into the object to write; Read turns an object
// read back after a restart into an incident and records again; Phase sums up the records;
// Expired says which finished investigations retention removes. All are pure functions.
package investigation
