package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/sqldialect"
)

// batches records the inbox batches a listener is told of.
type batches struct {
	mu       sync.Mutex
	sizes    []int
	errs     []error
	fellBack []bool
}

func (b *batches) OnEvent(_ context.Context, e outbox.Event) {
	if e.Kind != outbox.EventInboxBatch {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sizes = append(b.sizes, e.Events)
	b.errs = append(b.errs, e.Err)
	b.fellBack = append(b.fellBack, e.FellBack)
}

func (b *batches) get() ([]int, []error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.sizes), slices.Clone(b.errs)
}

func (b *batches) fallbacks() []bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.fellBack)
}

// groupInbox is an inbox with group commit on db, with its batches
// recorded and a channel that receives a value each time a delivery queues
// behind a running batch.
func groupInbox(t *testing.T, db *sql.DB, d sqldialect.Dialect, maxBatch int) (*outbox.Inbox, *batches, chan struct{}) {
	t.Helper()
	b := &batches{}
	in, err := outbox.NewInbox(db, d, outbox.WithGroupCommit(maxBatch), outbox.WithListener(b))
	if err != nil {
		t.Fatal(err)
	}
	queued := make(chan struct{}, 64)
	outbox.SetInboxQueueHook(in, func() { queued <- struct{}{} })
	return in, b, queued
}

// result is what one Process call returned, or its panic.
type result struct {
	ran   bool
	err   error
	panic any
}

// queueBehind starts a Process of each message, in order, each one queued
// behind the running batch before the next starts, so that the batches
// that follow are known; it returns their results.
func queueBehind(in *outbox.Inbox, queued <-chan struct{}, h outbox.TxHandler, msgs []*eventbus.Message) []chan result {
	results := make([]chan result, len(msgs))
	for i, m := range msgs {
		results[i] = make(chan result, 1)
		go func() {
			defer func() {
				if v := recover(); v != nil {
					results[i] <- result{panic: v}
				}
			}()
			ran, err := in.Process(context.Background(), "billing", m, h)
			results[i] <- result{ran: ran, err: err}
		}()
		<-queued
	}
	return results
}

// holdBatch starts a Process of a message with Subject "block" and returns
// once its handler runs, holding its batch until l.release, so that the
// deliveries started next queue behind it; done receives its result.
func holdBatch(t *testing.T, in *outbox.Inbox, l ledgerHandler) (done chan result) {
	t.Helper()
	done = make(chan result, 1)
	go func() {
		ran, err := in.Process(context.Background(), "billing", message(t, "block"), l.handle)
		done <- result{ran: ran, err: err}
	}()
	<-l.started
	return done
}

// ledgerHandler writes one ledger row per message; the message's Subject
// decides the rest: "fail" returns an error after writing, "sqlerr" a
// failed statement's, "swallow" ignores a failed statement's error,
// "panic" panics, "block" waits for release after telling started.
type ledgerHandler struct {
	started chan string
	release chan struct{}
}

func (l ledgerHandler) handle(ctx context.Context, tx *sql.Tx, msg *eventbus.Message) error {
	if _, err := tx.ExecContext(ctx, "INSERT INTO ledger (msg_id, subject) VALUES ($1, $2)", msg.ID, msg.Subject); err != nil {
		return err
	}
	switch msg.Subject {
	case "fail":
		return errors.New("card processor down")
	case "sqlerr": // on PostgreSQL, aborts the shared transaction: its own error, returned
		_, err := tx.ExecContext(ctx, "INSERT INTO no_such_table (id) VALUES ($1)", msg.ID)
		return err
	case "swallow": // the same error, ignored
		_, _ = tx.ExecContext(ctx, "INSERT INTO no_such_table (id) VALUES ($1)", msg.ID)
	case "panic":
		panic("handler bug")
	case "block":
		l.started <- msg.ID
		<-l.release
	}
	return nil
}

func createLedger(t *testing.T, d *database) {
	t.Helper()
	if _, err := d.db.ExecContext(context.Background(), "CREATE TABLE ledger (msg_id TEXT NOT NULL, subject TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
}

func message(t *testing.T, subject string) *eventbus.Message {
	t.Helper()
	m := orderCreated(t, subject, 0)
	m.Subject = subject
	return m
}

// TestInboxGroupCommitBatch: deliveries that queue while a batch runs are
// handled in the next batches, at most maxBatch each; a failing or
// panicking handler (or one whose statement failed) rolls its batch back
// and gets its error, and the others of the batch are processed again one
// by one, exactly once in effect; a duplicate in the same batch or of an
// earlier batch is skipped; the failed message is processed on its retry.
func TestInboxGroupCommitBatch(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			d := be.Open(t)
			createLedger(t, d)
			in, recorded, queued := groupInbox(t, d.db, d.dialect, 4)
			l := ledgerHandler{started: make(chan string, 1), release: make(chan struct{})}

			first := message(t, "block")
			a, b, c, fail, bad := message(t, "a"), message(t, "b"), message(t, "c"), message(t, "fail"), message(t, "panic")
			broken, after := message(t, "sqlerr"), message(t, "after")
			// The queue behind the first batch, oldest first: batches of
			// [first], [a, a, b, fail], [bad, first, c, b], [broken, after].
			queue := []*eventbus.Message{a, a, b, fail, bad, first, c, b, broken, after}
			failed := errors.New("failed")
			processed, duplicate := result{ran: true}, result{}
			want := []result{processed, duplicate, processed, {err: failed}, {panic: "handler bug"}, duplicate, processed, duplicate, {err: failed}, processed}

			firstDone := make(chan result, 1)
			go func() {
				ran, err := in.Process(ctx, "billing", first, l.handle)
				firstDone <- result{ran: ran, err: err}
			}()
			<-l.started // the first batch runs, blocked in its handler
			results := queueBehind(in, queued, l.handle, queue)
			close(l.release)
			if r := <-firstDone; !r.ran || r.err != nil {
				t.Fatalf("first delivery: Process = %v, %v; want processed", r.ran, r.err)
			}
			for i, ch := range results {
				r := <-ch
				if r.ran != want[i].ran || (r.err == nil) != (want[i].err == nil) || r.panic != want[i].panic {
					t.Errorf("delivery %d (%s): Process = %v, %v, panic %v; want %v, %v, panic %v", i, queue[i].Subject, r.ran, r.err, r.panic, want[i].ran, want[i].err, want[i].panic)
				}
			}
			sizes, errs := recorded.get()
			if !slices.Equal(sizes, []int{1, 4, 4, 2}) || slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
				t.Fatalf("batches = %v, errors %v; want sizes [1 4 4 2], no error", sizes, errs)
			}
			if fb := recorded.fallbacks(); !slices.Equal(fb, []bool{false, true, true, true}) {
				t.Fatalf("batches fell back %v, want [false true true true]: each of the last three has a failure", fb)
			}
			for _, tc := range []struct {
				msg  *eventbus.Message
				want int
			}{{first, 1}, {a, 1}, {b, 1}, {c, 1}, {fail, 0}, {bad, 0}, {broken, 0}, {after, 1}} {
				if n := d.count(t, "SELECT count(*) FROM ledger WHERE msg_id = $1", tc.msg.ID); n != tc.want {
					t.Errorf("%s: %d ledger rows, want %d", tc.msg.Subject, n, tc.want)
				}
				if n := d.count(t, "SELECT count(*) FROM microkit_inbox WHERE id = $1", tc.msg.ID); n != tc.want {
					t.Errorf("%s: %d marks, want %d", tc.msg.Subject, n, tc.want)
				}
			}
			// The retry of the failed message, its handler fixed, processes it.
			ran, err := in.Process(ctx, "billing", fail, func(ctx context.Context, tx *sql.Tx, msg *eventbus.Message) error {
				_, err := tx.ExecContext(ctx, "INSERT INTO ledger (msg_id, subject) VALUES ($1, 'retried')", msg.ID)
				return err
			})
			if !ran || err != nil {
				t.Fatalf("retry of the failed message: Process = %v, %v; want processed", ran, err)
			}
			if n := d.count(t, "SELECT count(*) FROM ledger WHERE msg_id = $1", fail.ID); n != 1 {
				t.Fatalf("failed then retried message: %d ledger rows, want 1", n)
			}
		})
	}
}

// TestInboxGroupCommitCancelled: a delivery whose context ends while it is
// queued returns the context's error without running; one whose context
// ends after its batch took it runs all the same, as its batch marked it,
// and is processed; the rest of the batch commits.
func TestInboxGroupCommitCancelled(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			d := be.Open(t)
			createLedger(t, d)
			in, _, queued := groupInbox(t, d.db, d.dialect, 10)
			l := ledgerHandler{started: make(chan string, 1), release: make(chan struct{})}
			process := func(ctx context.Context, m *eventbus.Message) chan result {
				ch := make(chan result, 1)
				go func() {
					ran, err := in.Process(ctx, "billing", m, l.handle)
					ch <- result{ran: ran, err: err}
				}()
				return ch
			}

			first, second := message(t, "block"), message(t, "block")
			queuedGone, takenGone, kept := message(t, "queued-gone"), message(t, "taken-gone"), message(t, "kept")
			firstDone := process(ctx, first)
			<-l.started
			goneCtx, cancelQueued := context.WithCancel(ctx)
			queuedDone := process(goneCtx, queuedGone)
			<-queued
			secondDone := process(ctx, second)
			<-queued
			takenCtx, cancelTaken := context.WithCancel(ctx)
			takenDone := process(takenCtx, takenGone)
			<-queued
			keptDone := process(ctx, kept)
			<-queued

			cancelQueued()
			if r := <-queuedDone; r.ran || !errors.Is(r.err, context.Canceled) {
				t.Fatalf("cancelled while queued: Process = %v, %v; want context.Canceled", r.ran, r.err)
			}
			l.release <- struct{}{} // the first batch commits; the second starts with second's handler
			<-l.started
			cancelTaken() // taken into the running batch, its turn not come
			close(l.release)
			for name, ch := range map[string]chan result{"first": firstDone, "second": secondDone, "taken-gone": takenDone, "kept": keptDone} {
				if r := <-ch; !r.ran || r.err != nil {
					t.Errorf("%s: Process = %v, %v; want processed", name, r.ran, r.err)
				}
			}
			if n := d.count(t, "SELECT count(*) FROM microkit_inbox WHERE id = $1", queuedGone.ID) + d.count(t, "SELECT count(*) FROM ledger WHERE msg_id = $1", queuedGone.ID); n != 0 {
				t.Errorf("cancelled while queued: %d marks and ledger rows, want none", n)
			}
			if n := d.count(t, "SELECT count(*) FROM microkit_inbox WHERE id = $1", takenGone.ID); n != 1 {
				t.Errorf("cancelled in its batch: %d marks, want 1", n)
			}
			if n := d.count(t, "SELECT count(*) FROM ledger"); n != 4 {
				t.Errorf("%d ledger rows, want 4 (first, second, taken-gone, kept)", n)
			}
		})
	}
}

// TestInboxGroupCommitCommitFails: a batch whose commit fails (a deferred
// foreign key, checked at commit) is processed again one delivery at a
// time: the delivery whose writes break the key fails, unmarked, and the
// others are processed.
func TestInboxGroupCommitCommitFails(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			d := be.Open(t)
			db := d.db
			if d.dialect == sqldialect.SQLite {
				// SQLite checks foreign keys only when asked to, per connection.
				fk, err := sql.Open(d.driver, d.dsn+"&_pragma=foreign_keys(1)")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = fk.Close() })
				db = fk
			}
			for _, stmt := range []string{
				"CREATE TABLE customers (id TEXT PRIMARY KEY)",
				"CREATE TABLE invoices (msg_id TEXT NOT NULL, customer TEXT NOT NULL REFERENCES customers (id) DEFERRABLE INITIALLY DEFERRED)",
			} {
				if _, err := db.ExecContext(ctx, stmt); err != nil {
					t.Fatal(err)
				}
			}
			in, recorded, queued := groupInbox(t, db, d.dialect, 10)
			started, release := make(chan struct{}), make(chan struct{})
			// Every handler writes an invoice; "dangling" names a customer
			// that does not exist, which the commit finds.
			h := func(ctx context.Context, tx *sql.Tx, msg *eventbus.Message) error {
				if msg.Subject == "block" {
					started <- struct{}{}
					<-release
				}
				customer := "c-1"
				if msg.Subject == "dangling" {
					customer = "nobody"
				}
				_, err := tx.ExecContext(ctx, "INSERT INTO invoices (msg_id, customer) VALUES ($1, $2)", msg.ID, customer)
				return err
			}
			if _, err := db.ExecContext(ctx, "INSERT INTO customers (id) VALUES ('c-1')"); err != nil {
				t.Fatal(err)
			}
			first := message(t, "block")
			batch := []*eventbus.Message{message(t, "ok"), message(t, "dangling"), message(t, "ok")}
			firstDone := make(chan error, 1)
			go func() { _, err := in.Process(ctx, "billing", first, h); firstDone <- err }()
			<-started
			results := queueBehind(in, queued, h, batch)
			close(release)
			if err := <-firstDone; err != nil {
				t.Fatal(err)
			}
			for i, ch := range results {
				r := <-ch
				want := batch[i].Subject == "ok"
				if r.ran != want || (r.err == nil) != want {
					t.Errorf("delivery %d (%s) of the batch whose commit failed: Process = %v, %v; want processed %v", i, batch[i].Subject, r.ran, r.err, want)
				}
				marks, invoices := d.count(t, "SELECT count(*) FROM microkit_inbox WHERE id = $1", batch[i].ID), d.count(t, "SELECT count(*) FROM invoices WHERE msg_id = $1", batch[i].ID)
				if n := map[bool]int{true: 1}[want]; marks != n || invoices != n {
					t.Errorf("delivery %d (%s): %d marks and %d invoices, want %d of each", i, batch[i].Subject, marks, invoices, n)
				}
			}
			sizes, batchErrs := recorded.get()
			if !slices.Equal(sizes, []int{1, 3}) || batchErrs[0] != nil || batchErrs[1] == nil {
				t.Fatalf("batches = %v, errors %v; want [1 3], the second's commit failed", sizes, batchErrs)
			}
			if fb := recorded.fallbacks(); !slices.Equal(fb, []bool{false, true}) {
				t.Fatalf("batches fell back %v, want [false true]", fb)
			}
			// Redelivered, a processed one is a duplicate.
			if ran, err := in.Process(ctx, "billing", batch[0], h); ran || err != nil {
				t.Fatalf("redelivery: Process = %v, %v; want a duplicate", ran, err)
			}
		})
	}
}

// TestInboxGroupCommitConcurrent: many deliveries at once, each message
// delivered three times, are processed exactly once each, in batches that
// account for every delivery. They all queue behind a first batch held in
// its handler, so the batches that follow are known: full ones of 16,
// far fewer transactions than messages.
func TestInboxGroupCommitConcurrent(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			d := be.Open(t)
			createLedger(t, d)
			const maxBatch = 16
			in, recorded, _ := groupInbox(t, d.db, d.dialect, maxBatch)
			queued := make(chan struct{}, 1000)
			outbox.SetInboxQueueHook(in, func() { queued <- struct{}{} })
			const messages, copies = 100, 3
			msgs := make([]*eventbus.Message, messages)
			for i := range msgs {
				msgs[i] = message(t, fmt.Sprint("m-", i))
			}
			l := ledgerHandler{started: make(chan string, 1), release: make(chan struct{})}
			firstDone := holdBatch(t, in, l)
			var wg sync.WaitGroup
			var mu sync.Mutex
			processed := 0
			for c := range copies {
				for i := range msgs {
					m := msgs[(i*7+c*13)%messages] // copies interleaved
					wg.Go(func() {
						ran, err := in.Process(ctx, "billing", m, l.handle)
						if err != nil {
							t.Error(err)
						}
						if ran {
							mu.Lock()
							processed++
							mu.Unlock()
						}
					})
				}
			}
			for range messages * copies {
				<-queued
			}
			close(l.release)
			wg.Wait()
			if r := <-firstDone; !r.ran || r.err != nil {
				t.Fatalf("first delivery: Process = %v, %v; want processed", r.ran, r.err)
			}
			if processed != messages {
				t.Errorf("%d deliveries ran their handler, want %d (one per message)", processed, messages)
			}
			if n := d.count(t, "SELECT count(DISTINCT msg_id) FROM ledger WHERE subject <> 'block'"); n != messages || d.count(t, "SELECT count(*) FROM ledger WHERE subject <> 'block'") != messages {
				t.Errorf("ledger holds %d messages in %d rows, want %d once each", n, d.count(t, "SELECT count(*) FROM ledger"), messages)
			}
			sizes, _ := recorded.get()
			total := 0
			for _, n := range sizes[1:] {
				total += n
			}
			wantBatches := (messages*copies + maxBatch - 1) / maxBatch
			if total != messages*copies || len(sizes)-1 != wantBatches {
				t.Errorf("%d batches hold %d deliveries, want %d batches of %d", len(sizes)-1, total, wantBatches, messages*copies)
			}
			if slices.Contains(recorded.fallbacks(), true) {
				t.Errorf("batches fell back %v, want none", recorded.fallbacks())
			}
			t.Logf("%d deliveries of %d messages in %d transactions", total, messages, len(sizes)-1)
		})
	}
}

// TestInboxGroupCommitSwallowedError: a handler that ignores a failed
// statement's error leaves a PostgreSQL transaction aborted; in a batch
// that delivery fails (as its own commit would) and the others commit,
// whether it is followed by another delivery or last. SQLite goes on after
// a failed statement, so there it is processed.
func TestInboxGroupCommitSwallowedError(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			d := be.Open(t)
			createLedger(t, d)
			in, recorded, queued := groupInbox(t, d.db, d.dialect, 10)
			l := ledgerHandler{started: make(chan string, 1), release: make(chan struct{})}
			first := message(t, "block")
			queue := []*eventbus.Message{message(t, "swallow"), message(t, "ok"), message(t, "swallow")}
			firstDone := make(chan error, 1)
			go func() { _, err := in.Process(ctx, "billing", first, l.handle); firstDone <- err }()
			<-l.started
			results := queueBehind(in, queued, l.handle, queue)
			close(l.release)
			if err := <-firstDone; err != nil {
				t.Fatal(err)
			}
			swallowedRuns := d.dialect == sqldialect.SQLite
			for i, ch := range results {
				r := <-ch
				want := queue[i].Subject == "ok" || swallowedRuns
				if r.ran != want || (r.err == nil) != want {
					t.Errorf("delivery %d (%s): Process = %v, %v; want processed %v", i, queue[i].Subject, r.ran, r.err, want)
				}
				marks := d.count(t, "SELECT count(*) FROM microkit_inbox WHERE id = $1", queue[i].ID)
				if (marks == 1) != want {
					t.Errorf("delivery %d (%s): %d marks, want processed %v", i, queue[i].Subject, marks, want)
				}
			}
			if sizes, _ := recorded.get(); !slices.Equal(sizes, []int{1, 3}) {
				t.Fatalf("batches = %v, want [1 3]", sizes)
			}
		})
	}
}

// TestInboxGroupCommitRouter: behind a router that runs 8 deliveries at
// once, an inbox handler with group commit handles each of 50 messages,
// published twice, once, with the router's delivery in its context.
func TestInboxGroupCommitRouter(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			d := be.Open(t)
			createLedger(t, d)
			in, err := outbox.NewInbox(d.db, d.dialect, outbox.WithGroupCommit(8))
			if err != nil {
				t.Fatal(err)
			}
			bus := newBus(t)
			r, err := eventbus.NewRouter(bus, "billing", eventbus.WithConcurrency(8))
			if err != nil {
				t.Fatal(err)
			}
			const messages = 50
			done := make(chan struct{}, 2*messages)
			if err := r.Handle("order.created", in.Handler("billing", func(ctx context.Context, tx *sql.Tx, msg *eventbus.Message) error {
				if info, ok := eventbus.DeliveryFromContext(ctx); !ok || info.Message.ID != msg.ID {
					t.Errorf("handler of %s: delivery in context %v, %v; want the router's", msg.ID, info, ok)
				}
				_, err := tx.ExecContext(ctx, "INSERT INTO ledger (msg_id, subject) VALUES ($1, $2)", msg.ID, msg.Subject)
				done <- struct{}{}
				return err
			})); err != nil {
				t.Fatal(err)
			}
			if err := r.Start(ctx); err != nil {
				t.Fatal(err)
			}
			for i := range messages {
				m := message(t, fmt.Sprint("o-", i))
				for range 2 {
					if err := bus.Publish(ctx, m); err != nil {
						t.Fatal(err)
					}
				}
			}
			for range messages {
				<-done
			}
			// Close drains every delivery: the duplicates were settled by then.
			if err := r.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if n, distinct := d.count(t, "SELECT count(*) FROM ledger"), d.count(t, "SELECT count(DISTINCT msg_id) FROM ledger"); n != messages || distinct != messages {
				t.Fatalf("ledger: %d rows for %d messages, want %d once each", n, distinct, messages)
			}
			if n := d.count(t, "SELECT count(*) FROM microkit_inbox WHERE consumer = 'billing/order.created'"); n != messages {
				t.Fatalf("%d marks of billing/order.created, want %d", n, messages)
			}
		})
	}
}
