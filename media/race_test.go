//go:build race

package media

// raceEnabled reports whether the tests run under the race detector.
const raceEnabled = true
