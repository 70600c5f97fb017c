// Package status turns domain state into the shape of a Hook's status: pure functions, stable
// order, and times at the API's one-second precision so that an unchanged state compares equal to
// what was written before and causes no write.
package status
