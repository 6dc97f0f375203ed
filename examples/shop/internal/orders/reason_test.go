package orders

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/eventbus/outbox"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/saga"
)

func TestReasonFor(t *testing.T) {
	call := func(err error) error { return fmt.Errorf("POST http://payment-service/charges: %w", err) }
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"decline", call(&platform.StatusError{Status: 402, Code: "declined", Message: "amount 129900 cents is over the limit"}), ReasonPaymentDeclined},
		{"decline marked not applied", saga.NotApplied(call(&platform.StatusError{Status: 402})), ReasonPaymentDeclined},
		{"out of stock", saga.NotApplied(call(&platform.StatusError{Status: 409, Code: "out_of_stock"})), ReasonOutOfStock},
		{"reservation released first", call(&platform.StatusError{Status: 409, Code: "released"}), ReasonNotCompleted},
		{"malformed participant request", call(&platform.StatusError{Status: 400, Code: "bad_request"}), ReasonNotCompleted},
		{"payment-service fault", call(&platform.StatusError{Status: 500, Code: "injected"}), ReasonServiceUnavailable},
		{"payment-service down", call(&platform.StatusError{Status: 503, Code: "down"}), ReasonServiceUnavailable},
		{"open breaker", saga.NotApplied(fmt.Errorf("guard: %w", breaker.ErrOpen)), ReasonServiceUnavailable},
		{"connection refused", call(&net.OpError{Op: "dial", Err: errors.New("connection refused")}), ReasonServiceUnavailable},
		{"step timeout", call(context.DeadlineExceeded), ReasonServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := reasonFor(tt.err)
			if got.Code != tt.want || got.Message != reasons[tt.want].Message {
				t.Fatalf("reasonFor(%v) = %+v, want %s", tt.err, got, tt.want)
			}
		})
	}
}

// TestReasonStoredForms checks how a reason is read back: the column and
// the event payload written by this code, and the plain technical text of
// rows and events written before reasons had codes, which must never be
// shown.
func TestReasonStoredForms(t *testing.T) {
	legacy := "POST http://payment-service/charges: status 402: declined: amount 129900 cents is over the limit"
	declined := reasonOf(ReasonPaymentDeclined)
	tests := []struct {
		name   string
		column string
		want   *Reason
	}{
		{"none", "", nil},
		{"a reason", declined.column(), declined},
		{"legacy technical text", legacy, reasonOf(ReasonNotCompleted)},
		{"JSON without a code", `{"message":"x"}`, reasonOf(ReasonNotCompleted)},
	}
	for _, tt := range tests {
		t.Run("column/"+tt.name, func(t *testing.T) {
			got := parseReason(tt.column)
			if !sameReason(got, tt.want) {
				t.Fatalf("parseReason(%q) = %+v, want %+v", tt.column, got, tt.want)
			}
		})
	}
	events := []struct {
		name, payload string
		want          *Reason
	}{
		{"a reason", `{"order_id":"o-1","reason":` + declined.column() + `}`, declined},
		{"no reason", `{"order_id":"o-1"}`, nil},
		{"legacy string", `{"order_id":"o-1","reason":` + fmt.Sprintf("%q", legacy) + `}`, reasonOf(ReasonNotCompleted)},
	}
	for _, tt := range events {
		t.Run("event/"+tt.name, func(t *testing.T) {
			var e OrderEvent
			if err := json.Unmarshal([]byte(tt.payload), &e); err != nil {
				t.Fatal(err)
			}
			if !sameReason(e.Reason, tt.want) {
				t.Fatalf("reason %+v, want %+v", e.Reason, tt.want)
			}
		})
	}
}

// TestFailureNotes follows the reason noted for a pending order through the
// store: a later failure replaces an earlier one unless it notes only where
// there is none (a payment's deadline after its decline), cancelling stores
// the reason with the order, and settling (either way) drops the note, so a
// confirmed order shows none. A confirmed order the warehouse did not ship
// is cancelled with its own note; a shipped one keeps its tracking number
// and is never cancelled.
func TestFailureNotes(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	db := st.db
	for _, id := range []string{"o-cancelled", "o-confirmed", "o-unshipped"} {
		if err := db.Tx(ctx, func(tx *platform.Tx) error {
			_, err := st.insert(ctx, tx, Order{ID: id, Customer: "u-1", Status: StatusPending, CreatedAt: time.Now()})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	settle := func(id, status string, r *Reason) error {
		return db.Tx(ctx, func(tx *platform.Tx) error {
			_, err := st.settle(ctx, tx, id, status, r)
			return err
		})
	}
	declined, unavailable := reasonOf(ReasonPaymentDeclined), reasonOf(ReasonServiceUnavailable)
	timeout, unshipped := reasonOf(ReasonPaymentTimeout), reasonOf(ReasonNotShipped)
	note := func(id string, r *Reason, ifNone bool) func() error {
		return func() error { return st.noteFailure(ctx, id, r, ifNone) }
	}
	ship := func(id, tracking string) func() error {
		return func() error {
			return db.Tx(ctx, func(tx *platform.Tx) error {
				_, err := st.ship(ctx, tx, id, tracking)
				return err
			})
		}
	}
	steps := []struct {
		name string
		do   func() error
		id   string
		// noted is the note expected after the step; reason the order's.
		noted, reason *Reason
		// status and tracking are the order's after the step ("": unchanged).
		status, tracking string
	}{
		{"first failure", note("o-cancelled", unavailable, false), "o-cancelled", unavailable, nil, StatusPending, ""},
		{"a later failure replaces it", note("o-cancelled", declined, false), "o-cancelled", declined, nil, StatusPending, ""},
		{"a deadline notes only where there is none", note("o-cancelled", timeout, true), "o-cancelled", declined, nil, StatusPending, ""},
		{"cancelled with the note", func() error { return settle("o-cancelled", StatusCancelled, declined) }, "o-cancelled", nil, declined, StatusCancelled, ""},
		{"a failed attempt", note("o-confirmed", unavailable, false), "o-confirmed", unavailable, nil, StatusPending, ""},
		{"then confirmed", func() error { return settle("o-confirmed", StatusConfirmed, nil) }, "o-confirmed", nil, nil, StatusConfirmed, ""},
		{"then shipped", ship("o-confirmed", "TRK-1"), "o-confirmed", nil, nil, StatusShipped, "TRK-1"},
		{"shipped again is a no-op", ship("o-confirmed", "TRK-2"), "o-confirmed", nil, nil, StatusShipped, "TRK-1"},
		{"a shipped order is not cancelled", func() error {
			if err := settle("o-confirmed", StatusCancelled, nil); err == nil {
				return errors.New("cancelled a shipped order")
			}
			return nil
		}, "o-confirmed", nil, nil, StatusShipped, "TRK-1"},
		{"confirmed, not yet shipped", func() error { return settle("o-unshipped", StatusConfirmed, nil) }, "o-unshipped", nil, nil, StatusConfirmed, ""},
		{"the warehouse's deadline passed", note("o-unshipped", unshipped, true), "o-unshipped", unshipped, nil, StatusConfirmed, ""},
		{"cancelled, paid but not shipped", func() error { return settle("o-unshipped", StatusCancelled, nil) }, "o-unshipped", nil, unshipped, StatusCancelled, ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := s.do(); err != nil {
				t.Fatal(err)
			}
			if noted := notedFailure(t, st, s.id); !sameReason(noted, s.noted) {
				t.Errorf("noted %+v, want %+v", noted, s.noted)
			}
			o, err := st.get(ctx, s.id)
			if err != nil {
				t.Fatal(err)
			}
			if !sameReason(o.Reason, s.reason) {
				t.Errorf("order's reason %+v, want %+v", o.Reason, s.reason)
			}
			if o.Status != s.status || o.TrackingNumber != s.tracking {
				t.Errorf("order %s, tracking %q; want %s, %q", o.Status, o.TrackingNumber, s.status, s.tracking)
			}
		})
	}
}

// notedFailure returns the failure noted for the order id while it is
// pending or confirmed, or nil.
func notedFailure(t *testing.T, st *store, id string) *Reason {
	t.Helper()
	var col string
	err := st.db.QueryRow(t.Context(), `SELECT reason FROM orders WHERE id = ? AND status IN ('pending', 'confirmed')`, id).Scan(&col)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return parseReason(col)
}

// A failure noted in the order_failures table, where databases of earlier
// versions of the service keep them, is the reason its pending order is
// cancelled with once the schema is migrated.
func TestMigrateMovesFailureNotes(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	if err := st.db.Tx(ctx, func(tx *platform.Tx) error {
		_, err := st.insert(ctx, tx, Order{ID: "o-old", Customer: "u-1", Status: StatusPending, CreatedAt: time.Now()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	declined := reasonOf(ReasonPaymentDeclined)
	if _, err := st.db.Exec(ctx, `INSERT INTO order_failures (order_id, reason) VALUES (?, ?)`, "o-old", declined.column()); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a migration runs at every start
		if err := st.db.Migrate(ctx, schema...); err != nil {
			t.Fatal(err)
		}
	}
	var o Order
	err := st.db.Tx(ctx, func(tx *platform.Tx) (err error) {
		o, err = st.settle(ctx, tx, "o-old", StatusCancelled, reasonOf(ReasonNotCompleted))
		return err
	})
	if err != nil || !sameReason(o.Reason, declined) {
		t.Fatalf("cancelled as %+v (%v), want the noted %+v", o.Reason, err, declined)
	}
}

func sameReason(a, b *Reason) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

// settle of a pending order changes it once; settling it again as the same
// status returns it unchanged, as the other status is an error, and an
// unknown order is an error. The order it returns is the stored one.
func TestSettle(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	db := st.db
	if err := db.Tx(ctx, func(tx *platform.Tx) error {
		_, err := st.insert(ctx, tx, Order{ID: "o-1", Customer: "u-1", Status: StatusPending, CreatedAt: time.Now(), UpdatedAt: time.Now()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	settle := func(id, status string, r *Reason) (o Order, err error) {
		err = db.Tx(ctx, func(tx *platform.Tx) error {
			o, err = st.settle(ctx, tx, id, status, r)
			return err
		})
		return o, err
	}
	declined := reasonOf(ReasonPaymentDeclined)
	first, err := settle("o-1", StatusCancelled, declined)
	if err != nil || first.Status != StatusCancelled || !sameReason(first.Reason, declined) {
		t.Fatalf("settle pending as cancelled: %+v, %v", first, err)
	}
	stored, err := st.get(ctx, "o-1")
	if err != nil || !reflect.DeepEqual(stored, first) {
		t.Fatalf("settle returned %+v, stored is %+v (%v)", first, stored, err)
	}
	again, err := settle("o-1", StatusCancelled, nil)
	if err != nil || !reflect.DeepEqual(again, first) {
		t.Fatalf("settle again: %+v, %v; want the order unchanged", again, err)
	}
	if _, err := settle("o-1", StatusConfirmed, nil); err == nil {
		t.Fatal("confirming a cancelled order: no error")
	}
	if _, err := settle("o-none", StatusConfirmed, nil); err == nil {
		t.Fatal("settling an unknown order: no error")
	}
	var events int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM microkit_outbox WHERE subject = 'o-1'`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 2 { // order.created and one order.cancelled
		t.Fatalf("%d events of o-1 in the outbox, want 2", events)
	}
}

// openStore returns the order store on a migrated SQLite file (orders,
// failure notes, outbox), closed when the test ends.
func openStore(t *testing.T) *store {
	t.Helper()
	ctx := t.Context()
	db, err := platform.OpenDB(ctx, filepath.Join(t.TempDir(), "orders.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, schema...); err != nil {
		t.Fatal(err)
	}
	if err := outbox.Migrate(ctx, db.SQL(), db.Dialect()); err != nil {
		t.Fatal(err)
	}
	return &store{db: db}
}
