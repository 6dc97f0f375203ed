// Package sagatest is the conformance suite that every [saga.Store] must
// pass. A store's test calls [Run] with a function that returns a fresh,
// empty store:
//
//	func TestConformance(t *testing.T) {
//		sagatest.Run(t, func(t *testing.T) saga.Store { return newEmptyStore(t) })
//	}
//
// It checks the store contract (create, compare-and-swap update, get,
// list with each filter, in order and page by page, copies in and out)
// and then drives real sagas through an orchestrator
// over the store: completion, compensation (including steps whose outcome
// is unknown, and compensations that fail), recovery, and two
// orchestrators recovering the same sagas at once. For a [saga.TxStore]
// it also checks transactions (a commit applies every write, an error
// rolls them all back, compare-and-swap holds inside, a nested InTx joins)
// and drives a saga with Local steps. For a [saga.WaitStore] it checks
// signals and drives waiting sagas (signals before, during and after
// their park, duplicates, timeouts, timers, two orchestrators waking
// them); for a [saga.ParkStore], that a park and a signal for one key
// meet in either order and at once.
package sagatest
