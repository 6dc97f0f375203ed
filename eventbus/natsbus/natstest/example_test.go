package natstest_test

import (
	"context"
	"testing"

	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/natsbus/natstest"
)

// A test gets its own JetStream server, and restarts it to check that
// the code under test rides through a broker restart.
func ExampleRun() {
	testSurvivesRestart := func(t *testing.T) {
		srv := natstest.Run(t) // shut down when the test ends
		bus, err := natsbus.Connect(context.Background(), srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bus.Close(context.Background()) })
		// ... publish and consume ...
		srv.Restart(t) // same port, same JetStream store
		// ... check nothing was lost ...
	}
	_ = testSurvivesRestart // in a _test.go file: func TestSurvivesRestart(t *testing.T)
}
