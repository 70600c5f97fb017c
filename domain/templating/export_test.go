package templating

// HelperFuncs are the helper functions as text/template would call them, for the differential
// test.
var HelperFuncs = helpers

// ErrInternal marks a panic of the interpreter.
var ErrInternal = errInternal
