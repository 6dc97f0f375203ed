package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/saga"
)

// Reason is why an order was cancelled, in the words its customer reads:
// a stable Code a client can branch on and a short Message for people. It
// is decided where the saga fails, from the failure's kind, and never
// carries the failure's text (service addresses, status lines, Go or SQL
// errors): that detail stays in the saga record and the service's log, for
// operators.
type Reason struct {
	// Code is one of the Reason… constants.
	Code string `json:"code"`
	// Message says what happened and what the customer may do.
	Message string `json:"message"`
}

// The codes of a Reason.
const (
	// ReasonPaymentDeclined: the payment-service declined the charge.
	ReasonPaymentDeclined = "payment_declined"
	// ReasonOutOfStock: an item could not be reserved for want of stock.
	ReasonOutOfStock = "out_of_stock"
	// ReasonServiceUnavailable: a service the order needs failed or did
	// not answer in time; the same order may succeed later.
	ReasonServiceUnavailable = "service_unavailable"
	// ReasonPaymentTimeout: the payment's outcome did not come by the
	// order's payment deadline.
	ReasonPaymentTimeout = "payment_timeout"
	// ReasonNotShipped: the warehouse did not ship the order in time; the
	// payment was refunded.
	ReasonNotShipped = "not_shipped"
	// ReasonNotCompleted: any other failure.
	ReasonNotCompleted = "not_completed"
)

// reasons holds the one Reason of each code. A cancelled order has been
// compensated in full, so "nothing kept" is true of every one.
var reasons = map[string]Reason{
	ReasonPaymentDeclined: {ReasonPaymentDeclined,
		"The payment was declined, so nothing was charged."},
	ReasonOutOfStock: {ReasonOutOfStock,
		"An item ran out of stock before it could be reserved; nothing was charged."},
	ReasonServiceUnavailable: {ReasonServiceUnavailable,
		"The shop could not complete the order just now; nothing was charged. Please try again later."},
	ReasonPaymentTimeout: {ReasonPaymentTimeout,
		"The payment was not confirmed in time, so the order was cancelled and nothing was charged."},
	ReasonNotShipped: {ReasonNotShipped,
		"The order could not be shipped in time, so it was cancelled and the payment refunded."},
	ReasonNotCompleted: {ReasonNotCompleted,
		"The order could not be completed; nothing was charged."},
}

// reasonOf returns the Reason of code.
func reasonOf(code string) *Reason {
	r := reasons[code]
	return &r
}

// reasonFor classifies the error of a saga step. Only refusals the
// participants state in their API (a 402 decline, a 409 out_of_stock) are
// told apart; a failure of the shop itself (a transport error, a 5xx, a
// timeout, an open breaker) is ReasonServiceUnavailable, and a refusal
// that is no fault of the customer's (a malformed request, a released
// reservation) ReasonNotCompleted.
func reasonFor(err error) *Reason {
	se, ok := errors.AsType[*platform.StatusError](err)
	switch {
	case ok && se.Status == http.StatusPaymentRequired:
		return reasonOf(ReasonPaymentDeclined)
	case ok && se.Status == http.StatusConflict && se.Code == ReasonOutOfStock:
		return reasonOf(ReasonOutOfStock)
	case ok && se.Status >= 400 && se.Status < 500:
		return reasonOf(ReasonNotCompleted)
	}
	return reasonOf(ReasonServiceUnavailable)
}

// UnmarshalJSON decodes a Reason object. A plain string, the form of events
// published before reasons had codes, becomes ReasonNotCompleted: its text
// was the technical error and is not shown.
func (r *Reason) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		*r = reasons[ReasonNotCompleted]
		return nil
	}
	type plain Reason
	return json.Unmarshal(b, (*plain)(r))
}

// column is r as the orders table stores it: JSON, or "" for none.
func (r *Reason) column() string {
	if r == nil {
		return ""
	}
	b, _ := json.Marshal(r) // two strings: cannot fail
	return string(b)
}

// parseReason reads a reason column. Text that is not a Reason (rows
// written before reasons had codes held the technical error) becomes
// ReasonNotCompleted, so that it is never shown.
func parseReason(s string) *Reason {
	if s == "" {
		return nil
	}
	var r Reason
	if json.Unmarshal([]byte(s), &r) != nil || r.Code == "" {
		return reasonOf(ReasonNotCompleted)
	}
	return &r
}

// noteFailure wraps a step's Execute: when it fails, the Reason of its
// error is stored with the pending order, so that the compensation that
// cancels it (in this process, or after a crash in another) tells the
// customer why. A later success makes the note moot: a confirmed order
// shows no reason. The technical error goes to the log here (and stays in
// the saga record), never to the customer.
func (s *Service) noteFailure(exec func(context.Context, *sagaState) error) func(context.Context, *sagaState) error {
	return func(ctx context.Context, st *sagaState) error {
		err := exec(ctx, st)
		if err == nil {
			return nil
		}
		r := reasonFor(err)
		key, _ := saga.IdempotencyKeyFromContext(ctx) // names the saga and the step
		s.deps.Logger.Info("order step failed", "order", st.OrderID, "key", key, "reason", r.Code, "err", err)
		// The step's own context may be what ran out.
		s.note(ctx, st.OrderID, r.Code, false)
		return err
	}
}

// noteFailure stores r as the reason of the order id while it is pending
// or confirmed (not shipped), replacing an earlier note unless ifNone: the
// reason it is cancelled with, if it is.
func (s *store) noteFailure(ctx context.Context, id string, r *Reason, ifNone bool) error {
	q := `UPDATE orders SET reason = ? WHERE id = ? AND status IN ('pending', 'confirmed')`
	if ifNone {
		q += ` AND reason = ''`
	}
	if _, err := s.db.Exec(ctx, q, r.column(), id); err != nil {
		return fmt.Errorf("orders: note failure of %s: %w", id, err)
	}
	return nil
}
