// Package domain holds khook's pure logic: what an event is, which hooks it matches, when it is
// new or a duplicate, how a prompt is rendered and how the agent is called for it.
//
// Packages under domain import only the standard library, the ports package and each other; time
// comes from a clock port. A test (imports_test.go) fails if that ever changes.
package domain
