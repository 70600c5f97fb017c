// Package status computes, as pure functions, what a Hook's status says: its active events with
// the delivery ledger of each firing (Activity, bounded by Limits so that a storm cannot push the
// object past the API's size limit), the way back after a restart (Restore), and its conditions
// (Accepted: is every configuration in use; Delivering: does every firing reach its agents).
//
// Times are cut to whole seconds, as the API stores them, and entries are ordered by key, so
// that computing the status of unchanged state gives the same value and writes nothing.
package status
