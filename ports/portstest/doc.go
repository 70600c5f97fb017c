// Package portstest has in-memory fakes of the ports for tests: an agent whose answers a test
// scripts, an audit log and a status writer that keep what they are given, and Nodes whose
// readiness a test sets. They are safe for concurrent use.
package portstest
