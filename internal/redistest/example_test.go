package redistest_test

import (
	"testing"

	"github.com/go-microkit/microkit/internal/redistest"
)

// A test gets its own redis-server, and restarts it to check that the code
// under test rides through a server restart.
func ExampleStart() {
	testSurvivesRestart := func(t *testing.T) {
		srv := redistest.Start(t) // stopped when the test ends
		_ = srv.Addr()            // connect to it
		// ... publish and consume ...
		srv.Restart(t) // same port, same append-only file
		// ... check nothing was lost ...
	}
	_ = testSurvivesRestart // in a _test.go file: func TestSurvivesRestart(t *testing.T)
}
