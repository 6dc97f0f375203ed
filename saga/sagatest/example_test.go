package sagatest_test

import (
	"testing"

	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sagatest"
)

// A store's conformance test: each call returns a fresh, empty store.
func ExampleRun() {
	_ = func(t *testing.T) {
		sagatest.Run(t, func(t *testing.T) saga.Store { return saga.NewMemoryStore() })
	}
}
