// Package discoverytest is the conformance suite of [discovery.Registry]:
// every registry (memory, static, Consul, and yours) runs [Run] from its
// tests and must pass it. A registry that is a [discovery.Heartbeater] or
// a [discovery.RegistrationChecker] is checked as one too.
//
//	func TestConformance(t *testing.T) {
//		discoverytest.Run(t, discoverytest.Harness{
//			New: func(t *testing.T, seed []discovery.Instance) discovery.Registry {
//				reg, _ := discovery.NewMemory()
//				for _, in := range seed {
//					_ = reg.Register(context.Background(), in)
//				}
//				return reg
//			},
//		})
//	}
package discoverytest
