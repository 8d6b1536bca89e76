//go:build !race

package cache

// raceEnabled shortens the slowest single-goroutine tests, whose point is
// not concurrency, when the race detector multiplies their cost.
const raceEnabled = false
