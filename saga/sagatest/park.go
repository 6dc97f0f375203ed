package sagatest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/saga"
)

// parkTests check a saga.ParkStore: that a park and a signal for one key
// meet, in either order and at once, and that a waiter's record is no
// signal.
var parkTests = []storeTest[saga.ParkStore]{
	{"ParkThenDeliver", testParkThenDeliver},
	{"DeliverThenPark", testDeliverThenPark},
	{"ParkWrites", testParkWrites},
	{"ParkAndDeliverRace", testParkAndDeliverRace},
	{"ParkTimeoutAndPrune", testParkTimeoutAndPrune},
}

// created stores a running record id and returns it.
func created(t *testing.T, s saga.Store, id string) *saga.Record {
	t.Helper()
	r := record(id, saga.StatusRunning, base)
	if err := s.Create(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

// parking sets r waiting on key, for a Park.
func parking(r *saga.Record, key string) *saga.Record {
	r.Status, r.WaitKey, r.WakeAt, r.UpdatedAt = saga.StatusWaiting, key, base.Add(time.Hour), base.Add(time.Second)
	r.Owner, r.LeaseUntil = "", time.Time{}
	return r
}

func testParkThenDeliver(t *testing.T, s saga.ParkStore) {
	ctx := context.Background()
	r := parking(created(t, s, "p1"), "pay-p1")
	sig, err := s.Park(ctx, r)
	if err != nil || sig != nil {
		t.Fatalf("Park = %+v, %v; want no signal", sig, err)
	}
	if r.Version != 2 {
		t.Errorf("Park left version %d, want 2", r.Version)
	}
	if got := get(t, s, "p1"); got.Status != saga.StatusWaiting || got.WaitKey != "pay-p1" || got.Version != 2 {
		t.Errorf("parked record = %+v", got)
	}
	// The waiter's record is no signal.
	if _, err := s.GetSignal(ctx, "pay-p1"); !errors.Is(err, saga.ErrNotFound) {
		t.Errorf("GetSignal after a park = %v, want ErrNotFound", err)
	}
	if _, err := s.TakeSignal(ctx, "pay-p1", "p1"); !errors.Is(err, saga.ErrNotFound) {
		t.Errorf("TakeSignal after a park = %v, want ErrNotFound", err)
	}
	if recs, err := s.List(ctx, saga.Filter{Statuses: []saga.Status{saga.StatusWaiting}, Signalled: true}); err != nil || len(recs) != 0 {
		t.Errorf("List Signalled after a park = %d records, %v; want none", len(recs), err)
	}
	sent := &saga.Signal{Key: "pay-p1", Type: "payment.confirmed", Payload: []byte(`{"ok":true}`), CreatedAt: base.Add(2 * time.Second)}
	stored, isNew, waiter, err := s.Deliver(ctx, sent)
	if err != nil || !isNew || stored.Type != "payment.confirmed" || string(stored.Payload) != `{"ok":true}` {
		t.Fatalf("Deliver = %+v, %v, %v", stored, isNew, err)
	}
	if waiter == nil || waiter.ID != "p1" || waiter.Status != saga.StatusWaiting || waiter.WaitKey != "pay-p1" || waiter.Version != 2 {
		t.Fatalf("Deliver's waiter = %+v, want p1 waiting at version 2", waiter)
	}
	if got, err := s.GetSignal(ctx, "pay-p1"); err != nil || got.Type != "payment.confirmed" || got.SagaID != "" || got.TimedOut ||
		!got.CreatedAt.Equal(sent.CreatedAt) || string(got.Payload) != `{"ok":true}` {
		t.Errorf("GetSignal after Deliver = %+v, %v", got, err)
	}
	if recs, err := s.List(ctx, saga.Filter{Statuses: []saga.Status{saga.StatusWaiting}, Signalled: true}); err != nil || len(recs) != 1 {
		t.Errorf("List Signalled with the signal pending = %d records, %v; want p1", len(recs), err)
	}
	// A second delivery of a pending signal is a duplicate that still
	// names the waiter, for a delivery that stopped before the wake-up.
	stored, isNew, waiter, err = s.Deliver(ctx, &saga.Signal{Key: "pay-p1", Type: "payment.declined", CreatedAt: base.Add(3 * time.Second)})
	if err != nil || isNew || stored.Type != "payment.confirmed" || waiter == nil || waiter.ID != "p1" {
		t.Fatalf("second Deliver = %+v, %v, %+v, %v; want the first signal and its waiter", stored, isNew, waiter, err)
	}
	if _, err := s.TakeSignal(ctx, "pay-p1", "p1"); err != nil {
		t.Fatal(err)
	}
	// Taken: no waiter to wake.
	if stored, isNew, waiter, err = s.Deliver(ctx, &saga.Signal{Key: "pay-p1", Type: "x", CreatedAt: base}); err != nil || isNew || stored.SagaID != "p1" || waiter != nil {
		t.Errorf("Deliver of a taken key = %+v, %v, %+v, %v", stored, isNew, waiter, err)
	}
}

func testDeliverThenPark(t *testing.T, s saga.ParkStore) {
	ctx := context.Background()
	r := created(t, s, "p2")
	stored, isNew, waiter, err := s.Deliver(ctx, &saga.Signal{Key: "pay-p2", Type: "payment.confirmed", Payload: []byte("1"), CreatedAt: base})
	if err != nil || !isNew || stored.Type != "payment.confirmed" || waiter != nil {
		t.Fatalf("Deliver before the park = %+v, %v, %+v, %v; want stored, no waiter", stored, isNew, waiter, err)
	}
	sig, err := s.Park(ctx, parking(r, "pay-p2"))
	if err != nil || sig == nil || sig.Key != "pay-p2" || sig.Type != "payment.confirmed" || string(sig.Payload) != "1" ||
		sig.SagaID != "" || sig.TimedOut || !sig.CreatedAt.Equal(base) {
		t.Fatalf("Park after the signal = %+v, %v; want the pending signal", sig, err)
	}
	if got := get(t, s, "p2"); got.Status != saga.StatusWaiting || got.Version != 2 {
		t.Errorf("parked record = %+v", got)
	}
	if got, err := s.GetSignal(ctx, "pay-p2"); err != nil || got.Type != "payment.confirmed" || got.SagaID != "" {
		t.Errorf("GetSignal after the park = %+v, %v; want the signal, pending", got, err)
	}
}

func testParkWrites(t *testing.T, s saga.ParkStore) {
	ctx := context.Background()
	r := created(t, s, "p3")
	stale := *r
	if err := s.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Park(ctx, parking(&stale, "pay-p3")); !errors.Is(err, saga.ErrConflict) {
		t.Fatalf("Park at a stale version = %v, want ErrConflict", err)
	}
	// The park that lost wrote no waiter.
	if _, _, waiter, err := s.Deliver(ctx, &saga.Signal{Key: "pay-p3", CreatedAt: base}); err != nil || waiter != nil {
		t.Errorf("Deliver after a lost park = waiter %+v, %v; want none", waiter, err)
	}
	missing := parking(record("missing", saga.StatusRunning, base), "pay-missing")
	missing.Version = 3
	if _, err := s.Park(ctx, missing); !errors.Is(err, saga.ErrNotFound) {
		t.Errorf("Park of a missing record = %v, want ErrNotFound", err)
	}
	// Version 0 creates the record, parked.
	fresh := parking(record("p4", saga.StatusRunning, base), "pay-p4")
	fresh.Version = 0
	fresh.CreatedAt = base
	if sig, err := s.Park(ctx, fresh); err != nil || sig != nil || fresh.Version != 1 {
		t.Fatalf("Park creating p4 = %+v, %v, version %d", sig, err, fresh.Version)
	}
	if got := get(t, s, "p4"); got.Status != saga.StatusWaiting || got.WaitKey != "pay-p4" || got.Version != 1 {
		t.Errorf("created parked record = %+v", got)
	}
	again := parking(record("p4", saga.StatusRunning, base), "pay-p4b")
	if _, err := s.Park(ctx, again); !errors.Is(err, saga.ErrDuplicate) {
		t.Errorf("Park creating p4 again = %v, want ErrDuplicate", err)
	}
	if _, _, waiter, err := s.Deliver(ctx, &saga.Signal{Key: "pay-p4", CreatedAt: base}); err != nil || waiter == nil || waiter.ID != "p4" {
		t.Errorf("Deliver to the created park = waiter %+v, %v; want p4", waiter, err)
	}
}

// testParkAndDeliverRace parks sagas while their signals are delivered,
// half of them in the write that creates them: for each key, whichever of
// the two comes second sees the other.
func testParkAndDeliverRace(t *testing.T, s saga.ParkStore) {
	const n = 32
	ctx := context.Background()
	recs := make([]*saga.Record, n)
	for i := range recs {
		id := fmt.Sprint("race", i)
		if i%2 == 0 {
			recs[i] = created(t, s, id)
		} else { // created by its park, in the same write
			recs[i] = record(id, saga.StatusRunning, base)
		}
	}
	parked := make([]*saga.Signal, n)
	waiters := make([]*saga.Record, n)
	var wg sync.WaitGroup
	for i, r := range recs {
		key := "pay-" + r.ID
		wg.Go(func() {
			sig, err := s.Park(ctx, parking(r, key))
			if err != nil {
				t.Errorf("Park %s: %v", r.ID, err)
			}
			parked[i] = sig
		})
		wg.Go(func() {
			_, _, waiter, err := s.Deliver(ctx, &saga.Signal{Key: key, Type: "payment.confirmed", CreatedAt: base})
			if err != nil {
				t.Errorf("Deliver %s: %v", key, err)
			}
			waiters[i] = waiter
		})
	}
	wg.Wait()
	for i, r := range recs {
		if parked[i] == nil && waiters[i] == nil {
			t.Errorf("%s: neither the park nor the signal saw the other", r.ID)
		}
		if w := waiters[i]; w != nil && w.ID != r.ID {
			t.Errorf("%s: Deliver returned waiter %s", r.ID, w.ID)
		}
	}
}

// testParkTimeoutAndPrune closes a parked key without a signal, as a wait
// that times out does, and prunes the waiters' records of sagas that no
// longer wait, not of those that do.
func testParkTimeoutAndPrune(t *testing.T, s saga.ParkStore) {
	ctx := context.Background()
	timedOut := created(t, s, "t1")
	if _, err := s.Park(ctx, parking(timedOut, "pay-t1")); err != nil {
		t.Fatal(err)
	}
	closed := &saga.Signal{Key: "pay-t1", SagaID: "t1", TimedOut: true, CreatedAt: base.Add(time.Hour)}
	if stored, isNew, err := s.PutSignal(ctx, closed); err != nil || !isNew || !stored.TimedOut {
		t.Fatalf("PutSignal closing a parked key = %+v, %v, %v; want stored", stored, isNew, err)
	}
	if got, err := s.GetSignal(ctx, "pay-t1"); err != nil || !got.TimedOut || got.SagaID != "t1" {
		t.Errorf("GetSignal of the closed key = %+v, %v", got, err)
	}
	stillWaiting := created(t, s, "t2")
	if _, err := s.Park(ctx, parking(stillWaiting, "pay-t2")); err != nil {
		t.Fatal(err)
	}
	gone := created(t, s, "t3")
	if _, err := s.Park(ctx, parking(gone, "pay-t3")); err != nil {
		t.Fatal(err)
	}
	gone.Status, gone.WaitKey, gone.WakeAt = saga.StatusCompleted, "", time.Time{}
	if err := s.Update(ctx, gone); err != nil {
		t.Fatal(err)
	}
	// The parks' records are from base+1s; the closed key's from base+1h.
	n, err := s.PruneSignals(ctx, base.Add(time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("PruneSignals = %d, %v; want 1: the record of t3, which no longer waits", n, err)
	}
	if _, _, waiter, err := s.Deliver(ctx, &saga.Signal{Key: "pay-t2", CreatedAt: base}); err != nil || waiter == nil || waiter.ID != "t2" {
		t.Errorf("Deliver to t2 after the prune = waiter %+v, %v; want t2, still waiting", waiter, err)
	}
	if _, _, waiter, err := s.Deliver(ctx, &saga.Signal{Key: "pay-t3", CreatedAt: base}); err != nil || waiter != nil {
		t.Errorf("Deliver to t3 after the prune = waiter %+v, %v; want none", waiter, err)
	}
	if _, err := s.GetSignal(ctx, "pay-t1"); err != nil {
		t.Errorf("the younger timed-out signal was pruned: %v", err)
	}
}
