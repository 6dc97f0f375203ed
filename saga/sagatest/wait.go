package sagatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/saga"
)

// waitTests are the checks of a [saga.WaitStore], run for stores that
// implement it.
var waitTests = []storeTest[saga.WaitStore]{
	{"WaitFieldsAndFilters", testWaitFields},
	{"SignalsPutGetTakePrune", testSignals},
	{"SignalWhileParked", testSignalWhileParked},
	{"SignalBeforePark", testSignalBeforePark},
	{"SignalDuplicatesAndAfterFinish", testSignalDuplicates},
	{"NegativeSignalCompensatesTheWait", testNegativeSignal},
	{"WaitTimesOutOnRecover", testWaitTimesOut},
	{"TimerDueWhileDownFiresOnRecover", testTimerDue},
	{"PendingSignalOfAParkedSagaDeliveredOnRecover", testPendingSignal},
	{"SignalRacesPark", testSignalRacesPark},
	{"TwoOrchestratorsWakeOnce", testTwoOrchestratorsWake},
}

// payment is the state of the waiting sagas: the payment's ID is the
// correlation key of its confirmation.
type payment struct {
	PaymentID string `json:"payment_id"`
	Status    string `json:"status,omitempty"`
	Shipped   bool   `json:"shipped,omitempty"`
}

// waiter is a saga reserve, await-payment (Execute starts the payment,
// whose ID is the key its confirmation carries), ship; its participants
// count calls by idempotency key.
type waiter struct {
	p *participants
}

var errDeclined = errors.New("sagatest: payment declined")

// definition returns the waiting saga named name; wait adjusts its Wait.
func (w waiter) definition(name string, wait func(*saga.Wait[payment])) *saga.Saga[payment] {
	do := func(ctx context.Context) error { w.p.count(ctx, false); return nil }
	undo := func(ctx context.Context, _ *payment) error { w.p.count(ctx, true); return nil }
	await := &saga.Wait[payment]{
		Signal: true,
		Key:    func(s *payment) string { return s.PaymentID },
		OnSignal: func(_ context.Context, s *payment, sig saga.Signal) error {
			s.Status = string(sig.Payload)
			if sig.Type == "payment.declined" {
				return errDeclined
			}
			return nil
		},
	}
	if wait != nil {
		wait(await)
	}
	def, err := saga.New(name,
		saga.Step[payment]{Name: "reserve", Execute: func(ctx context.Context, _ *payment) error { return do(ctx) }, Compensate: undo},
		saga.Step[payment]{Name: "pay", Wait: await, Compensate: undo,
			Execute: func(ctx context.Context, s *payment) error {
				id, _ := saga.IDFromContext(ctx)
				s.PaymentID = "pay-" + id
				return do(ctx)
			}},
		saga.Step[payment]{Name: "ship", Compensate: undo, Execute: func(ctx context.Context, s *payment) error {
			s.Shipped = true
			return do(ctx)
		}},
	)
	if err != nil {
		panic(err)
	}
	return def
}

func testWaitFields(t *testing.T, s saga.WaitStore) {
	ctx := context.Background()
	for i, wake := range []time.Duration{0, time.Minute, time.Second, time.Hour} {
		r := record(fmt.Sprint("w", i), saga.StatusWaiting, base.Add(time.Duration(i)*time.Second))
		if wake > 0 {
			r.WaitKey, r.WakeAt = fmt.Sprint("key-", i), base.Add(wake)
			r.Steps[1].WaitKey, r.Steps[1].WakeAt = r.WaitKey, r.WakeAt.In(time.FixedZone("UTC-3", -3*60*60))
		}
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		equal(t, get(t, s, r.ID), r)
	}
	next, err := s.NextWake(ctx)
	if err != nil || !next.Equal(base.Add(time.Second)) {
		t.Errorf("NextWake = %v, %v; want %v", next, err, base.Add(time.Second))
	}
	for _, tt := range []struct {
		f    saga.Filter
		want []string
	}{
		{saga.Filter{WaitKey: "key-3"}, []string{"w3"}},
		{saga.Filter{WaitKey: "key-9"}, nil},
		{saga.Filter{Statuses: []saga.Status{saga.StatusWaiting}, WaitKey: "key-1"}, []string{"w1"}},
		{saga.Filter{DueBy: base.Add(time.Minute)}, []string{"w1", "w2"}},
		{saga.Filter{DueBy: base.Add(time.Minute - 1)}, []string{"w2"}},
		{saga.Filter{DueBy: base.Add(2 * time.Hour), Limit: 2, Newest: true}, []string{"w3", "w2"}},
	} {
		got, err := s.List(ctx, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), tt.want) {
			t.Errorf("List(%+v) = %v, want %v", tt.f, ids(got), tt.want)
		}
	}
	// The orchestrator clears the fields when the saga is taken back.
	r := get(t, s, "w1")
	r.Status, r.WaitKey, r.WakeAt = saga.StatusRunning, "", time.Time{}
	if err := s.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	equal(t, get(t, s, "w1"), r)
	if got, _ := s.List(ctx, saga.Filter{WaitKey: "key-1"}); len(got) != 0 {
		t.Errorf("List by a cleared key = %v", ids(got))
	}
	if next, err := s.NextWake(ctx); err != nil || !next.Equal(base.Add(time.Second)) {
		t.Errorf("NextWake = %v, %v", next, err)
	}
	// Signalled: the waiting sagas whose key has a signal no saga took.
	for _, sig := range []*saga.Signal{
		{Key: "key-2", CreatedAt: base},                                 // pending: w2 is listed
		{Key: "key-3", SagaID: "w3", TimedOut: true, CreatedAt: base},   // a closed key
		{Key: "key-9", Type: "for nobody", CreatedAt: base},             // pending, no saga waits on it
		{Key: "key-0", Type: "taken", SagaID: "other", CreatedAt: base}, // taken
	} {
		if _, _, err := s.PutSignal(ctx, sig); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.List(ctx, saga.Filter{Statuses: []saga.Status{saga.StatusWaiting}, Signalled: true}); err != nil || !slices.Equal(ids(got), []string{"w2"}) {
		t.Errorf("List(Signalled) = %v, %v; want [w2]", ids(got), err)
	}
	if _, err := s.TakeSignal(ctx, "key-2", "w2"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.List(ctx, saga.Filter{Signalled: true}); err != nil || len(got) != 0 {
		t.Errorf("List(Signalled) after the signal was taken = %v, %v", ids(got), err)
	}
	if _, err := s.List(ctx, saga.Filter{WaitKey: "a\x00b"}); !errors.Is(err, saga.ErrInvalidFilter) {
		t.Errorf("List with a NUL in the wait key = %v, want ErrInvalidFilter", err)
	}
}

func testSignals(t *testing.T, s saga.WaitStore) {
	ctx := context.Background()
	if _, err := s.GetSignal(ctx, "k"); !errors.Is(err, saga.ErrNotFound) {
		t.Errorf("GetSignal of a missing key = %v, want ErrNotFound", err)
	}
	if next, err := s.NextWake(ctx); err != nil || !next.IsZero() {
		t.Errorf("NextWake of an empty store = %v, %v; want zero", next, err)
	}
	first := &saga.Signal{Key: "k", Type: "payment.confirmed", Payload: []byte(`{"amount":1999}`), CreatedAt: base}
	stored, created, err := s.PutSignal(ctx, first)
	if err != nil || !created || stored.Type != first.Type {
		t.Fatalf("PutSignal = %+v, %v, %v", stored, created, err)
	}
	first.Payload[0] = 'X' // the store must have copied it
	stored, created, err = s.PutSignal(ctx, &saga.Signal{Key: "k", Type: "payment.declined", CreatedAt: base.Add(time.Second)})
	if err != nil || created || stored.Type != "payment.confirmed" || string(stored.Payload) != `{"amount":1999}` ||
		!stored.CreatedAt.Equal(base) || stored.SagaID != "" || stored.TimedOut {
		t.Fatalf("second PutSignal = %+v, %v, %v; want the first one, not created", stored, created, err)
	}
	if _, err := s.TakeSignal(ctx, "missing", "s1"); !errors.Is(err, saga.ErrNotFound) {
		t.Errorf("TakeSignal of a missing key = %v", err)
	}
	for range 2 { // taking it again is idempotent
		got, err := s.TakeSignal(ctx, "k", "s1")
		if err != nil || got.Key != "k" || got.SagaID != "s1" || got.Type != "payment.confirmed" ||
			string(got.Payload) != `{"amount":1999}` || !got.CreatedAt.Equal(base) || got.TimedOut {
			t.Fatalf("TakeSignal = %+v, %v", got, err)
		}
	}
	if _, err := s.TakeSignal(ctx, "k", "s2"); !errors.Is(err, saga.ErrConflict) {
		t.Errorf("TakeSignal by another saga = %v, want ErrConflict", err)
	}
	if got, err := s.GetSignal(ctx, "k"); err != nil || got.SagaID != "s1" || string(got.Payload) != `{"amount":1999}` {
		t.Errorf("GetSignal = %+v, %v", got, err)
	}
	closed := &saga.Signal{Key: "closed", SagaID: "s3", TimedOut: true, CreatedAt: base.Add(time.Hour)}
	if _, created, err := s.PutSignal(ctx, closed); err != nil || !created {
		t.Fatal(err)
	}
	if got, err := s.GetSignal(ctx, "closed"); err != nil || !got.TimedOut || got.SagaID != "s3" || len(got.Payload) != 0 {
		t.Errorf("GetSignal of a timed-out one = %+v, %v", got, err)
	}
	if n, err := s.PruneSignals(ctx, base.Add(time.Minute)); err != nil || n != 1 {
		t.Errorf("PruneSignals = %d, %v; want 1", n, err)
	}
	if _, err := s.GetSignal(ctx, "k"); !errors.Is(err, saga.ErrNotFound) {
		t.Errorf("a pruned signal is still there: %v", err)
	}
	if _, err := s.GetSignal(ctx, "closed"); err != nil {
		t.Errorf("a younger signal was pruned: %v", err)
	}
}

// signal delivers key's event and fails the test on an error.
func signal(t *testing.T, o *saga.Orchestrator, key, eventType string) {
	t.Helper()
	if err := o.Signal(context.Background(), key, eventType, []byte(eventType)); err != nil {
		t.Fatalf("Signal %s: %v", key, err)
	}
}

// counts checks how often each step of saga id ran and was undone.
func (p *participants) counts(t *testing.T, id string, done, undone map[string]int) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, step := range []string{"reserve", "pay", "ship"} {
		key := id + "/" + step
		if p.done[key] != done[step] || p.undone[key] != undone[step] {
			t.Errorf("%s done %d undone %d times, want %d and %d", key, p.done[key], p.undone[key], done[step], undone[step])
		}
	}
}

func testSignalWhileParked(t *testing.T, s saga.WaitStore) {
	ctx := context.Background()
	w := waiter{newParticipants()}
	def := w.definition("wait-parked", nil)
	o := orchestrator(t, s, def)
	got, err := def.Run(ctx, o, payment{}, saga.WithID("p1"))
	if !errors.Is(err, saga.ErrWaiting) {
		t.Fatalf("Run = %v, want ErrWaiting", err)
	}
	if got.PaymentID != "pay-p1" {
		t.Errorf("the state it parked with: %+v", got)
	}
	rec := get(t, s, "p1")
	if rec.Status != saga.StatusWaiting || rec.WaitKey != "pay-p1" || !rec.WakeAt.IsZero() || !rec.LeaseUntil.IsZero() ||
		rec.Steps[1].Status != saga.StepWaiting || rec.Steps[1].WaitKey != "pay-p1" || rec.Steps[2].Status != saga.StepPending {
		t.Fatalf("parked record %+v", rec)
	}
	signal(t, o, "pay-p1", "payment.confirmed")
	rec = get(t, s, "p1")
	if rec.Status != saga.StatusCompleted || rec.WaitKey != "" || string(rec.State) != `{"payment_id":"pay-p1","status":"payment.confirmed","shipped":true}` {
		t.Errorf("after the signal: %s %q %s", rec.Status, rec.WaitKey, rec.State)
	}
	if sr := rec.Steps[1]; sr.Status != saga.StepDone || sr.StartedAt.IsZero() || sr.EndedAt.Before(sr.StartedAt) {
		t.Errorf("the waiting step's record %+v", sr)
	}
	w.p.counts(t, "p1", map[string]int{"reserve": 1, "pay": 1, "ship": 1}, nil)
}

func testSignalBeforePark(t *testing.T, s saga.WaitStore) {
	ctx := context.Background()
	w := waiter{newParticipants()}
	def := w.definition("wait-early", nil)
	o := orchestrator(t, s, def)
	signal(t, o, "pay-e1", "payment.confirmed") // the webhook beats the saga
	if sig, err := s.GetSignal(ctx, "pay-e1"); err != nil || sig.SagaID != "" {
		t.Fatalf("the early signal is not pending: %+v, %v", sig, err)
	}
	got, err := def.Run(ctx, o, payment{}, saga.WithID("e1"))
	if err != nil || !got.Shipped || got.Status != "payment.confirmed" {
		t.Fatalf("Run = %+v, %v; want it to take the pending signal and complete", got, err)
	}
	if sig, err := s.GetSignal(ctx, "pay-e1"); err != nil || sig.SagaID != "e1" {
		t.Errorf("the signal is not taken: %+v, %v", sig, err)
	}
	w.p.counts(t, "e1", map[string]int{"reserve": 1, "pay": 1, "ship": 1}, nil)
}

func testSignalDuplicates(t *testing.T, s saga.WaitStore) {
	ctx := context.Background()
	w := waiter{newParticipants()}
	// A saga with two waits on two keys: pay, then a delivery confirmed by
	// the carrier under the saga's default key for the step.
	def, err := saga.New("wait-twice",
		saga.Step[payment]{Name: "pay", Wait: &saga.Wait[payment]{Signal: true, Key: func(*payment) string { return "dup-pay" }},
			Execute: func(ctx context.Context, _ *payment) error { w.p.count(ctx, false); return nil }},
		saga.Step[payment]{Name: "deliver", Wait: &saga.Wait[payment]{Signal: true}},
		saga.Step[payment]{Name: "close", Execute: func(ctx context.Context, _ *payment) error { w.p.count(ctx, false); return nil }},
	)
	if err != nil {
		t.Fatal(err)
	}
	o := orchestrator(t, s, def)
	if _, err := def.Run(ctx, o, payment{}, saga.WithID("d1")); !errors.Is(err, saga.ErrWaiting) {
		t.Fatalf("Run = %v", err)
	}
	signal(t, o, "dup-pay", "paid")
	signal(t, o, "dup-pay", "paid") // a duplicate while the saga waits for the delivery
	if rec := get(t, s, "d1"); rec.Status != saga.StatusWaiting || rec.WaitKey != "d1/deliver" || rec.Steps[0].Status != saga.StepDone {
		t.Fatalf("after the payment: %+v", rec)
	}
	signal(t, o, "d1/deliver", "delivered")
	if rec := get(t, s, "d1"); rec.Status != saga.StatusCompleted {
		t.Fatalf("after the delivery: %s", rec.Status)
	}
	for _, key := range []string{"dup-pay", "d1/deliver"} {
		if err := o.Signal(ctx, key, "again", nil); !errors.Is(err, saga.ErrSagaFinished) {
			t.Errorf("Signal %s after the saga finished = %v, want ErrSagaFinished", key, err)
		}
	}
	if w.p.done["d1/pay"] != 1 || w.p.done["d1/close"] != 1 {
		t.Errorf("steps ran %v, want once each", w.p.done)
	}
}

func testNegativeSignal(t *testing.T, s saga.WaitStore) {
	ctx := context.Background()
	w := waiter{newParticipants()}
	def := w.definition("wait-declined", nil)
	o := orchestrator(t, s, def)
	if _, err := def.Run(ctx, o, payment{}, saga.WithID("n1")); !errors.Is(err, saga.ErrWaiting) {
		t.Fatalf("Run = %v", err)
	}
	signal(t, o, "pay-n1", "payment.declined")
	rec := get(t, s, "n1")
	if rec.Status != saga.StatusCompensated || rec.Steps[1].Status != saga.StepCompensated || !rec.Steps[1].Failed ||
		rec.Error != errDeclined.Error() {
		t.Errorf("after a declined payment: %+v", rec)
	}
	// The payment was started: its step is compensated, then the reserve.
	w.p.counts(t, "n1", map[string]int{"reserve": 1, "pay": 1}, map[string]int{"reserve": 1, "pay": 1})
	if log := w.p.log(); !slices.Equal(log[len(log)-2:], []string{"undo n1/pay", "undo n1/reserve"}) {
		t.Errorf("journal %v: want the wait's compensation first", log)
	}
}

func testWaitTimesOut(t *testing.T, s saga.WaitStore) {
	ctx := context.Background()
	w := waiter{newParticipants()}
	// The wait ended a second ago: due at once, as after a long outage.
	def := w.definition("wait-timeout", func(w *saga.Wait[payment]) {
		w.Until = func(*payment) time.Time { return time.Now().Add(-time.Second) }
	})
	o := orchestrator(t, s, def)
	if _, err := def.Run(ctx, o, payment{}, saga.WithID("t1")); !errors.Is(err, saga.ErrWaiting) {
		t.Fatalf("Run = %v", err)
	}
	if rec := get(t, s, "t1"); rec.WakeAt.IsZero() || rec.Steps[1].WakeAt.IsZero() {
		t.Fatalf("parked without a wake-up time: %+v", rec)
	}
	res, err := o.Recover(ctx)
	if err != nil || res.Resumed != 1 || res.Compensated != 1 {
		t.Fatalf("Recover = %+v, %v; want the timed-out saga compensated", res, err)
	}
	rec := get(t, s, "t1")
	if rec.Status != saga.StatusCompensated || !rec.WakeAt.IsZero() || rec.Steps[1].Status != saga.StepCompensated {
		t.Errorf("after the timeout: %+v", rec)
	}
	if !strings.Contains(rec.Error, saga.ErrWaitTimeout.Error()) {
		t.Errorf("cause %q, want the wait's timeout", rec.Error)
	}
	w.p.counts(t, "t1", map[string]int{"reserve": 1, "pay": 1}, map[string]int{"reserve": 1, "pay": 1})
	if err := o.Signal(ctx, "pay-t1", "payment.confirmed", nil); !errors.Is(err, saga.ErrSagaFinished) {
		t.Errorf("a confirmation after the timeout = %v, want ErrSagaFinished", err)
	}
}

func testTimerDue(t *testing.T, s saga.WaitStore) {
	ctx := context.Background()
	w := waiter{newParticipants()}
	def, err := saga.New("wait-timer",
		saga.Step[payment]{Name: "reserve", Execute: func(ctx context.Context, _ *payment) error { w.p.count(ctx, false); return nil }},
		saga.Sleep[payment]("cool-off", time.Hour),
		saga.Step[payment]{Name: "ship", Execute: func(ctx context.Context, _ *payment) error { w.p.count(ctx, false); return nil }},
	)
	if err != nil {
		t.Fatal(err)
	}
	o := orchestrator(t, s, def)
	if _, err := def.Run(ctx, o, payment{}, saga.WithID("h1")); !errors.Is(err, saga.ErrWaiting) {
		t.Fatalf("Run = %v", err)
	}
	rec := get(t, s, "h1")
	if rec.Status != saga.StatusWaiting || rec.WaitKey != "" || rec.WakeAt.Before(time.Now().Add(59*time.Minute)) {
		t.Fatalf("parked record %+v", rec)
	}
	if res, err := o.Recover(ctx); err != nil || res.Resumed != 0 {
		t.Fatalf("Recover before the timer is due = %+v, %v", res, err)
	}
	// An hour passes while no orchestrator runs: the store's clock is not
	// the test's, so the record's wake-up time moves instead.
	rec.WakeAt = time.Now().Add(-time.Minute)
	if err := s.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	o2 := orchestrator(t, s, def)
	if res, err := o2.Recover(ctx); err != nil || res.Completed != 1 {
		t.Fatalf("Recover after the timer fell due = %+v, %v; want it completed", res, err)
	}
	if w.p.done["h1/ship"] != 1 {
		t.Errorf("ship ran %d times", w.p.done["h1/ship"])
	}
}

// testPendingSignal leaves a parked saga's signal stored and undelivered,
// as when the process that stored it stopped before it drove the saga,
// or the one that parked the saga stopped before it looked for the
// signal: Recover delivers it.
func testPendingSignal(t *testing.T, s saga.WaitStore) {
	ctx := context.Background()
	w := waiter{newParticipants()}
	def := w.definition("wait-pending", nil)
	o := orchestrator(t, s, def)
	if _, err := def.Run(ctx, o, payment{}, saga.WithID("s1")); !errors.Is(err, saga.ErrWaiting) {
		t.Fatalf("Run = %v", err)
	}
	if _, _, err := s.PutSignal(ctx, &saga.Signal{Key: "pay-s1", Type: "payment.confirmed", Payload: []byte("payment.confirmed"), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if res, err := orchestrator(t, s, def).Recover(ctx); err != nil || res.Completed != 1 {
		t.Fatalf("Recover = %+v, %v; want the saga completed", res, err)
	}
	if rec := get(t, s, "s1"); rec.Status != saga.StatusCompleted || string(rec.State) != `{"payment_id":"pay-s1","status":"payment.confirmed","shipped":true}` {
		t.Errorf("after Recover: %s %s", rec.Status, rec.State)
	}
	w.p.counts(t, "s1", map[string]int{"reserve": 1, "pay": 1, "ship": 1}, nil)
}

// testSignalRacesPark delivers each saga's signal while it runs towards
// its park: whichever of the signal and the park comes second drives the
// saga on, once.
func testSignalRacesPark(t *testing.T, s saga.WaitStore) {
	const n = 24
	ctx := context.Background()
	w := waiter{newParticipants()}
	def := w.definition("wait-race", nil)
	o := orchestrator(t, s, def)
	var wg sync.WaitGroup
	for i := range n {
		id := fmt.Sprint("r", i)
		wg.Go(func() {
			if _, err := def.Run(ctx, o, payment{}, saga.WithID(id)); err != nil && !errors.Is(err, saga.ErrWaiting) {
				t.Errorf("Run %s: %v", id, err)
			}
		})
		wg.Go(func() {
			if err := o.Signal(ctx, "pay-"+id, "payment.confirmed", nil); err != nil {
				t.Errorf("Signal %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	w.completedOnce(t, s, "r", n)
}

// testTwoOrchestratorsWake parks sagas, then has two orchestrators signal
// every one of them at once, twice, while both run the timer's look:
// each saga's next step runs once.
func testTwoOrchestratorsWake(t *testing.T, s saga.WaitStore) {
	const n = 16
	ctx := context.Background()
	w := waiter{newParticipants()}
	def := w.definition("wait-two", nil)
	os := []*saga.Orchestrator{orchestrator(t, s, def), orchestrator(t, s, def)}
	for i := range n {
		if _, err := def.Run(ctx, os[i%2], payment{}, saga.WithID(fmt.Sprint("o", i))); !errors.Is(err, saga.ErrWaiting) {
			t.Fatalf("Run = %v", err)
		}
	}
	var wg sync.WaitGroup
	for _, o := range os {
		for range 2 {
			wg.Go(func() {
				for i := range n {
					if err := o.Signal(ctx, fmt.Sprint("pay-o", i), "payment.confirmed", nil); err != nil && !errors.Is(err, saga.ErrSagaFinished) {
						t.Errorf("Signal: %v", err)
					}
				}
			})
		}
		wg.Go(func() {
			if _, err := o.Recover(ctx); err != nil {
				t.Errorf("Recover: %v", err)
			}
		})
	}
	wg.Wait()
	w.completedOnce(t, s, "o", n)
}

// completedOnce checks that the sagas prefix0 to prefix<n-1> completed,
// each step run once.
func (w waiter) completedOnce(t *testing.T, s saga.Store, prefix string, n int) {
	t.Helper()
	for i := range n {
		id := fmt.Sprint(prefix, i)
		if rec := get(t, s, id); rec.Status != saga.StatusCompleted {
			t.Errorf("%s is %s, want completed", id, rec.Status)
		}
		w.p.counts(t, id, map[string]int{"reserve": 1, "pay": 1, "ship": 1}, nil)
	}
}
