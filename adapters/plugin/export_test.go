package plugin

// Compare is compare, for tests.
var Compare = compare
