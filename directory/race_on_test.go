//go:build race

package directory_test

// raceEnabled reports whether the race detector is on: it makes stack frames larger.
const raceEnabled = true
