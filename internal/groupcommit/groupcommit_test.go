package groupcommit_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/go-microkit/microkit/internal/groupcommit"
)

type item struct {
	id    int
	batch int // the batch that ran it, from 1; 0: not run
}

// recorder is a run function that numbers its batches and blocks the
// first one until gate closes, so that callers queue behind it.
type recorder struct {
	gate    chan struct{}
	sizes   []int
	panicAt int // the batch that panics after recording, or 0
}

func (r *recorder) run(_ context.Context, batch []*item) {
	r.sizes = append(r.sizes, len(batch))
	for _, it := range batch {
		it.batch = len(r.sizes)
	}
	if len(r.sizes) == 1 {
		<-r.gate
	}
	if len(r.sizes) == r.panicAt {
		panic("run failed")
	}
}

// TestBatchesInQueueOrder: callers that queue while a batch runs are taken
// oldest first, at most limit per batch, the lead passing from batch to
// batch until the queue is empty.
func TestBatchesInQueueOrder(t *testing.T) {
	for _, tc := range []struct {
		name      string
		limit     int
		callers   int
		wantSizes []int
	}{
		{"one alone", 3, 1, []int{1}},
		{"one batch behind the first", 8, 5, []int{1, 4}},
		{"limit splits the queue", 3, 8, []int{1, 3, 3, 1}},
		{"limit below one means one", 0, 3, []int{1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := &recorder{gate: make(chan struct{})}
				g := groupcommit.New(tc.limit, r.run)
				items := make([]*item, tc.callers)
				errs := make(chan error, tc.callers)
				for i := range items {
					items[i] = &item{id: i}
					go func() { errs <- g.Do(context.Background(), items[i]) }()
					synctest.Wait() // queued (or leading) before the next one starts
				}
				close(r.gate)
				for range items {
					if err := <-errs; err != nil {
						t.Fatal(err)
					}
				}
				if !slices.Equal(r.sizes, tc.wantSizes) {
					t.Fatalf("batch sizes = %v, want %v", r.sizes, tc.wantSizes)
				}
				want := 1
				for i, it := range items { // batches hold consecutive callers
					if it.batch < want {
						t.Fatalf("caller %d ran in batch %d after a later caller's batch %d", i, it.batch, want)
					}
					want = it.batch
				}
			})
		})
	}
}

// TestCancelWhileQueued: a caller whose context ends while it waits in the
// queue returns the context's error and is not run; the others are.
func TestCancelWhileQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{gate: make(chan struct{})}
		g := groupcommit.New(10, r.run)
		first, gone, kept := &item{id: 0}, &item{id: 1}, &item{id: 2}
		done := make(chan error, 3)
		go func() { done <- g.Do(context.Background(), first) }()
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		goneErr := make(chan error, 1)
		go func() { goneErr <- g.Do(ctx, gone) }()
		synctest.Wait()
		go func() { done <- g.Do(context.Background(), kept) }()
		synctest.Wait()
		cancel()
		if err := <-goneErr; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled caller: Do = %v, want context.Canceled", err)
		}
		close(r.gate)
		for range 2 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if gone.batch != 0 || kept.batch != 2 || !slices.Equal(r.sizes, []int{1, 1}) {
			t.Fatalf("cancelled caller in batch %d, kept in %d, sizes %v; want 0, 2, [1 1]", gone.batch, kept.batch, r.sizes)
		}
	})
}

// TestCancelledBeforeTaken: a caller whose context ended before a leader
// took it is dropped from the batch with the context's error, even if it
// had not noticed yet (here: the leader itself).
func TestCancelledBeforeTaken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{gate: make(chan struct{})}
		close(r.gate)
		g := groupcommit.New(10, r.run)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		it := &item{}
		if err := g.Do(ctx, it); !errors.Is(err, context.Canceled) || it.batch != 0 || len(r.sizes) != 0 {
			t.Fatalf("Do = %v, batch %d, sizes %v; want context.Canceled and nothing run", err, it.batch, r.sizes)
		}
		if err := g.Do(context.Background(), it); err != nil || it.batch != 1 {
			t.Fatalf("next Do = %v, batch %d; want the group free again", err, it.batch)
		}
	})
}

// TestPanicPassesTheLead: a run that panics unwinds its leader, and the
// callers queued behind it still get their batch.
func TestPanicPassesTheLead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{gate: make(chan struct{}), panicAt: 1}
		g := groupcommit.New(10, r.run)
		panicked := make(chan any, 1)
		go func() {
			defer func() { panicked <- recover() }()
			_ = g.Do(context.Background(), &item{})
		}()
		synctest.Wait()
		next := &item{}
		done := make(chan error, 1)
		go func() { done <- g.Do(context.Background(), next) }()
		synctest.Wait()
		close(r.gate)
		if v := <-panicked; v == nil {
			t.Fatal("the leader's panic was swallowed")
		}
		if err := <-done; err != nil || next.batch != 2 {
			t.Fatalf("queued caller: Do = %v, batch %d; want its own batch 2", err, next.batch)
		}
	})
}

// TestAloneAllocatesNothing: a caller that finds no batch running runs at
// once without the queue's allocations (with a context that has no
// cancellation to drop, none at all), so that grouping costs a caller
// alone nothing.
func TestAloneAllocatesNothing(t *testing.T) {
	runs := 0
	g := groupcommit.New(10, func(_ context.Context, batch []int) { runs += len(batch) })
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() {
		if err := g.Do(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("a caller alone allocates %v times a call, want 0", n)
	}
	if runs != 101 { // AllocsPerRun runs once more to warm up
		t.Fatalf("ran %d items, want 101", runs)
	}
}

// BenchmarkDoAlone is the cost of the grouping to a caller alone: Do
// around a run that does nothing.
func BenchmarkDoAlone(b *testing.B) {
	g := groupcommit.New(10, func(context.Context, []int) {})
	ctx, cancel := context.WithCancel(context.Background()) // a request's context: cancellable
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		if err := g.Do(ctx, 1); err != nil {
			b.Fatal(err)
		}
	}
}
