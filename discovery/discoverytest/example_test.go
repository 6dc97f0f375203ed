package discoverytest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/discoverytest"
)

// A registry's own test runs the suite, with a harness that makes a new
// registry that already holds the instances it is given.
func ExampleRun() {
	testConformance := func(t *testing.T) {
		discoverytest.Run(t, discoverytest.Harness{
			New: func(t *testing.T, seed []discovery.Instance) discovery.Instancer {
				reg, err := discovery.NewMemory()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = reg.Close(context.Background()) })
				for _, in := range seed {
					if err := reg.Register(context.Background(), in); err != nil {
						t.Fatal(err)
					}
				}
				return reg
			},
		})
	}
	_ = testConformance // in a _test.go file: func TestConformance(t *testing.T)
}

// Instance makes valid instances whose every field is set, so that a
// registry that drops a tag, a meta entry or the weight is caught.
func ExampleInstance() {
	in := discoverytest.Instance("orders", 2)
	fmt.Println(in.Service, in.Validate() == nil)
	// Output: orders true
}
