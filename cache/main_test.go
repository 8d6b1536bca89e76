package cache

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: a sweeper
// not stopped by Close, or a loader still running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
