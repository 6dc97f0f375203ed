package outbox_test

import (
	"context"
	"slices"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/internal/sqltest"
)

// TestInboxGroupCommitStatements: a batch without failures sends BEGIN,
// one statement that marks every delivery, one statement per handler
// (each handler here runs one) and COMMIT, whatever its duplicates: a
// message processed before, and one delivered twice within the batch.
// One failure costs a rollback and a transaction per other delivery.
func TestInboxGroupCommitStatements(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			d := be.Open(t)
			createLedger(t, d)
			var n sqltest.Calls
			in, recorded, queued := groupInbox(t, sqltest.CountingDB(t, d.db, d.dsn, &n), d.dialect, 10)
			l := ledgerHandler{started: make(chan string, 1), release: make(chan struct{})}

			old, a, b, c := message(t, "old"), message(t, "a"), message(t, "b"), message(t, "c")
			if ran, err := in.Process(ctx, "billing", old, l.handle); !ran || err != nil {
				t.Fatalf("Process = %v, %v; want processed", ran, err)
			}
			firstDone := holdBatch(t, in, l)
			queue := []*eventbus.Message{a, b, a, old, c}
			results := queueBehind(in, queued, l.handle, queue)
			close(l.release)
			if r := <-firstDone; !r.ran || r.err != nil {
				t.Fatalf("first delivery: Process = %v, %v; want processed", r.ran, r.err)
			}
			want := []bool{true, true, false, false, true}
			for i, ch := range results {
				if r := <-ch; r.ran != want[i] || r.err != nil || r.panic != nil {
					t.Errorf("delivery %d (%s): Process = %v, %v, panic %v; want %v, nil", i, queue[i].Subject, r.ran, r.err, r.panic, want[i])
				}
			}
			// Three batches: [old], [block] and [a b a old c], three of
			// whose handlers run.
			if sizes, _ := recorded.get(); !slices.Equal(sizes, []int{1, 1, 5}) {
				t.Fatalf("batches = %v, want [1 1 5]", sizes)
			}
			got := [4]int64{n.Begins.Load(), n.Stmts.Load(), n.Commits.Load(), n.Rollbacks.Load()}
			if wantCalls := [4]int64{3, 2 + 2 + 1 + 3, 3, 0}; got != wantCalls {
				t.Fatalf("begins, statements, commits, rollbacks = %v, want %v: BEGIN, one mark statement, one per handler, COMMIT per batch", got, wantCalls)
			}

			// A batch of three whose second fails: BEGIN, the marks, two
			// handlers, ROLLBACK; then the first and third alone, with
			// their mark and handler each.
			n.Begins.Store(0)
			n.Stmts.Store(0)
			n.Commits.Store(0)
			x, fail, y := message(t, "x"), message(t, "fail"), message(t, "y")
			l = ledgerHandler{started: make(chan string, 1), release: make(chan struct{})}
			firstDone = holdBatch(t, in, l)
			results = queueBehind(in, queued, l.handle, []*eventbus.Message{x, fail, y})
			close(l.release)
			<-firstDone
			for i, wantRan := range []bool{true, false, true} {
				if r := <-results[i]; r.ran != wantRan || (r.err == nil) != wantRan {
					t.Errorf("delivery %d of the failed batch: Process = %v, %v; want processed %v", i, r.ran, r.err, wantRan)
				}
			}
			got = [4]int64{n.Begins.Load(), n.Stmts.Load(), n.Commits.Load(), n.Rollbacks.Load()}
			if wantCalls := [4]int64{1 + 1 + 2, 2 + 1 + 2 + 2*2, 1 + 2, 1}; got != wantCalls {
				t.Fatalf("begins, statements, commits, rollbacks = %v, want %v", got, wantCalls)
			}
			if fb := recorded.fallbacks(); !slices.Equal(fb, []bool{false, false, false, false, true}) {
				t.Fatalf("batches fell back %v, want only the last", fb)
			}
		})
	}
}
