//go:build race

package loadtest_test

// raceEnabled: the race detector slows the in-process server (and its
// pure-Go SQLite) about twentyfold; fleet tests shrink accordingly.
const raceEnabled = true
