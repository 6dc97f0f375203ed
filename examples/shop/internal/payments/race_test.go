package payments

import (
	"context"
	"testing"
	"time"

	"github.com/go-microkit/microkit/internal/sqltest"
)

// A refund that runs while the charge of the same key is still in flight
// on PostgreSQL (the saga compensating a charge whose reply it never got)
// must end with the charge refunded, not charged. The charge is held in
// flight by inserting its row in a transaction left open, as charge does
// in one statement.
func TestRefundDuringInFlightChargePostgres(t *testing.T) {
	dsn, app := sqltest.PostgresSchema(t, "payments")
	ctx := t.Context()
	st := openStore(t, dsn+"&application_name="+app)
	db := st.db
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	charging, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer charging.Rollback()
	if _, err := charging.ExecContext(ctx, `INSERT INTO charges (charge_key, order_id, customer, amount_cents, status, created_at)
		VALUES ('k', 'o', 'c', 500, 'charged', $1)`, at.UnixNano()); err != nil {
		t.Fatal(err)
	}

	type result struct {
		c   Charge
		err error
	}
	refunded := make(chan result, 1)
	done := make(chan struct{})
	go func() {
		c, err := st.refund(context.Background(), "k", at)
		refunded <- result{c, err}
		close(done)
	}()
	// The refund either waits for the charge or (the bug) finishes first.
	for blocked := false; !blocked; {
		select {
		case <-done:
			blocked = true
		default:
			var n int
			if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&n); err != nil {
				t.Fatal(err)
			}
			blocked = n > 0
		}
	}
	if err := charging.Commit(); err != nil {
		t.Fatal(err)
	}

	r := <-refunded
	if r.err != nil || r.c.Status != StatusRefunded {
		t.Fatalf("refund = %+v, %v; want status %s", r.c, r.err, StatusRefunded)
	}
	c, err := st.get(ctx, "k")
	if err != nil || c.Status != StatusRefunded || c.AmountCents != 500 {
		t.Fatalf("stored charge = %+v, %v; want the charge of 500, refunded", c, err)
	}
}
