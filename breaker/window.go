package breaker

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// cacheLine pads hot atomics apart: two counters written by different cores
// on one 64-byte line would bounce it between them on every call.
const cacheLine = 64

// Slot bits of the count window.
const (
	slotUsed = 1 << iota
	slotFailed
	slotSlow
)

// countWindow holds the outcomes of the last size calls, lock-free.
//
// Each call takes the next position with one atomic add, and swaps its
// outcome into the slot there; the failure and slow counts change only when
// the outcome leaving the window differs from the one entering it, so they
// always equal the number of failed and slow slots once the calls in flight
// have returned.
//
// A full window of successes is the common case, and there a new success
// changes nothing a reader can see: every slot holds a success whichever
// one it would replace. So record returns after two loads of read-mostly
// words, and parallel callers share the cache lines instead of bouncing
// one between cores on an atomic add.
type countWindow struct {
	_   [cacheLine]byte
	pos atomic.Uint64 // calls recorded since the window was made
	_   [cacheLine - 8]byte
	// The counts can be off by one for a moment while two calls that
	// replace each other's kind of outcome add their deltas.
	failures atomic.Int64 // failed slots
	slows    atomic.Int64 // slow slots
	full     atomic.Bool  // pos has reached size
	_        [cacheLine - 17]byte

	size     uint64
	magic    uint64 // for fastmod by size
	minCalls uint64
	slots    []atomic.Uint32
}

func newCountWindow(size, minCalls int) *countWindow {
	return &countWindow{
		size:     uint64(size),
		magic:    ^uint64(0)/uint64(size) + 1,
		minCalls: uint64(minCalls),
		slots:    make([]atomic.Uint32, size),
	}
}

// index returns n mod size with two multiplications instead of a division
// (Lemire, "Faster remainder by direct computation", 2019). Positions are
// taken mod 2^32 first; at the wrap, once per four billion calls, one slot
// keeps its old outcome a round longer.
func (w *countWindow) index(n uint64) uint64 {
	hi, _ := bits.Mul64(w.magic*uint64(uint32(n)), w.size)
	return hi
}

// success records a success; it reports whether the window just reached
// its minimum number of calls, so the rate rules must be evaluated.
func (w *countWindow) success() (check bool) {
	if w.failures.Load()|w.slows.Load() == 0 && w.full.Load() {
		return false
	}
	return w.record(slotUsed)
}

// record adds one call with slot value v and reports whether the rate rules
// must be evaluated: the window holds its minimum number of calls and the
// call failed or was slow, or it is the call that reached the minimum.
func (w *countWindow) record(v uint32) (check bool) {
	n := w.pos.Add(1)
	if n == w.size {
		w.full.Store(true)
	}
	s := &w.slots[w.index(n-1)]
	if s.Load() != v {
		old := s.Swap(v)
		if d := int64(v&slotFailed>>1) - int64(old&slotFailed>>1); d != 0 {
			w.failures.Add(d)
		}
		if d := int64(v&slotSlow>>2) - int64(old&slotSlow>>2); d != 0 {
			w.slows.Add(d)
		}
	}
	return n >= w.minCalls && (v != slotUsed || n == w.minCalls)
}

func (w *countWindow) counts() Counts {
	return Counts{
		Calls:    int64(min(w.pos.Load(), w.size)),
		Failures: w.failures.Load(),
		Slow:     w.slows.Load(),
	}
}

// bucket is one slice of a time window, padded to its own cache line.
type bucket struct {
	epoch    atomic.Int64 // which slice of time it counts: now / width
	calls    atomic.Int64
	failures atomic.Int64
	slows    atomic.Int64
	_        [cacheLine - 32]byte
}

// timeWindow counts the calls of the last n*width nanoseconds in n buckets.
// A call adds to the bucket of its end time with atomic adds; only the
// first call of a new slice of time takes the mutex, to clear the bucket it
// reuses. A call descheduled across a whole window between its check and
// its add can land in the next round of its bucket; that bounded smear is
// the price of no lock on the success path.
type timeWindow struct {
	width    int64
	n        int64
	minCalls int64
	// warm is set once the window has been seen holding its minimum
	// number of calls. Until then a success must check the rate rules
	// too, or a window that reaches its minimum on a success (three
	// failures, then a success, with a minimum of four) would wait for
	// the next failure to trip. After that, a success lowers the rates
	// and checking on failures suffices. Read-mostly: one shared load per
	// success.
	warm    atomic.Bool
	mu      sync.Mutex // serialises bucket reuse
	buckets []bucket
}

func newTimeWindow(length int64, n, minCalls int) *timeWindow {
	return &timeWindow{
		width:    length / int64(n),
		n:        int64(n),
		minCalls: int64(minCalls),
		buckets:  make([]bucket, n),
	}
}

func (w *timeWindow) bucketAt(now int64) (*bucket, int64) {
	e := max(now, 0) / w.width
	b := &w.buckets[e%w.n]
	if ep := b.epoch.Load(); ep < e {
		w.mu.Lock()
		if b.epoch.Load() < e {
			b.calls.Store(0)
			b.failures.Store(0)
			b.slows.Store(0)
			b.epoch.Store(e)
		}
		w.mu.Unlock()
	}
	return b, e
}

// record adds one call ending at now and reports whether the rate rules
// must be evaluated: on a failure or slow call, and on any call until the
// window is warm.
func (w *timeWindow) record(now int64, failed, slow bool) (check bool) {
	b, _ := w.bucketAt(now)
	b.calls.Add(1)
	if failed {
		b.failures.Add(1)
	}
	if slow {
		b.slows.Add(1)
	}
	return failed || slow || !w.warm.Load()
}

// sum adds up the buckets of the window that ends in slice e.
func (w *timeWindow) sum(e int64) Counts {
	var c Counts
	for i := range w.buckets {
		b := &w.buckets[i]
		if ep := b.epoch.Load(); ep > e-w.n && ep <= e {
			c.Calls += b.calls.Load()
			c.Failures += b.failures.Load()
			c.Slow += b.slows.Load()
		}
	}
	return c
}

func (w *timeWindow) counts(now int64) Counts {
	return w.sum(max(now, 0) / w.width)
}
