// Package discoverytest is the conformance suite of the registry ports of
// package discovery: every registry (memory, static, Consul, and yours)
// runs [Run] from its tests and must pass it. Every registry is checked as
// a [discovery.Instancer]; one that is also a [discovery.Registrar] (a
// [discovery.Registry]) is checked for writes, and one that is a
// [discovery.Heartbeater], a [discovery.RegistrationChecker] or a
// [discovery.ServiceLister] as one too.
//
//	func TestConformance(t *testing.T) {
//		discoverytest.Run(t, discoverytest.Harness{
//			New: func(t *testing.T, seed []discovery.Instance) discovery.Instancer {
//				reg, _ := discovery.NewMemory()
//				for _, in := range seed {
//					_ = reg.Register(context.Background(), in)
//				}
//				return reg
//			},
//		})
//	}
package discoverytest
