package orders

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/examples/shop/internal/payments"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/examples/shop/internal/products"
	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sqlstore"
)

// sagaState is the CreateOrderSaga's state, persisted with each step.
type sagaState struct {
	OrderID    string          `json:"order_id"`
	Customer   string          `json:"customer"`
	Items      []products.Item `json:"items"`
	TotalCents int64           `json:"total_cents"`
	// ChargeRequested: the payment-service took the charge, whose outcome
	// comes as an event.
	ChargeRequested bool `json:"charge_requested,omitempty"`
	// Paid: the payment.confirmed event came.
	Paid bool `json:"paid,omitempty"`
	// TrackingNumber is the shipment's, set when the order is confirmed
	// and booked with the warehouse.
	TrackingNumber string `json:"tracking_number,omitempty"`
	// Shipped: the warehouse's shipment.dispatched event came.
	Shipped bool `json:"shipped,omitempty"`
}

// SagaName is the name of the CreateOrderSaga in the saga store.
const SagaName = "create-order"

// attempts returns the policy of a step that may run n times, at most 50ms
// apart (full jitter).
func attempts(n int) retry.Policy {
	return retry.Policy{MaxAttempts: n, Backoff: retry.Backoff{Initial: 50 * time.Millisecond, Max: 50 * time.Millisecond}}
}

// clientError reports whether err is a 4xx answer: the participant refused,
// and asking again will not change its mind.
func clientError(err error) bool {
	st := platform.StatusOf(err)
	return st >= 400 && st < 500
}

// notCharged reports whether err proves that no charge was made: the
// breaker refused the call before sending it, or the payment-service itself
// answered with a refusal (4xx) or an injected fault, which it returns
// before touching any charge.
func notCharged(err error) bool {
	var se *platform.StatusError
	return errors.Is(err, breaker.ErrOpen) || clientError(err) ||
		errors.As(err, &se) && (se.Code == "injected" || se.Code == "down")
}

// inTx runs fn in the transaction of the local step that ctx belongs to:
// the saga store's, which commits fn's writes with the step's record.
func (s *Service) inTx(ctx context.Context, fn func(tx *platform.Tx) error) error {
	tx, ok := sqlstore.TxFromContext(ctx)
	if !ok {
		// A local step always runs in the store's transaction: this is a bug.
		return retry.Permanent(errors.New("orders: a local step ran outside the saga store's transaction"))
	}
	return fn(s.st.db.Bind(tx))
}

// outcome is where the saga's steps leave the order they stored or
// settled, for the request that runs the saga to answer with, without
// reading it back.
type outcome struct {
	order Order
	set   bool
}

type outcomeKey struct{}

// withOutcome returns ctx carrying out, which report fills.
func withOutcome(ctx context.Context, out *outcome) context.Context {
	return context.WithValue(ctx, outcomeKey{}, out)
}

// report records o, written by a local step in a transaction not yet
// committed, as the order's latest state for the request running the
// saga, if there is one (a saga resumed by Recover or woken by an event
// has none), and for the requests waiting for it to settle.
func (s *Service) report(ctx context.Context, o Order) {
	if out, ok := ctx.Value(outcomeKey{}).(*outcome); ok {
		out.order, out.set = o, true
	}
	s.waiters.keep(o)
}

// newSaga defines the CreateOrderSaga. Its first and last steps are local:
// their writes (the order row, its status, their outbox events) commit
// with the saga's record in one transaction of the order-service's
// database, so that the saga and its order start together, and a crash
// never leaves an order without its saga or a step done but unrecorded.
func (s *Service) newSaga() (*saga.Saga[sagaState], error) {
	return saga.New(SagaName,
		saga.Step[sagaState]{
			Name:  stepOrder,
			Local: true,
			Execute: func(ctx context.Context, st *sagaState) error {
				return s.inTx(ctx, func(tx *platform.Tx) error {
					now := time.Now()
					o, err := s.st.insert(ctx, tx, Order{ID: st.OrderID, Customer: st.Customer, Status: StatusPending,
						Items: st.Items, TotalCents: st.TotalCents, CreatedAt: now, UpdatedAt: now})
					if errors.Is(err, errOrderExists) {
						return retry.Permanent(err) // another request's order: not ours to run
					}
					s.report(ctx, o)
					return err
				})
			},
			Compensate: func(ctx context.Context, st *sagaState) error {
				return s.inTx(ctx, func(tx *platform.Tx) error {
					// The reason noted where the saga failed, else "not completed".
					o, err := s.st.settle(ctx, tx, st.OrderID, StatusCancelled, reasonOf(ReasonNotCompleted))
					if err == nil && o.Reason != nil {
						s.deps.Logger.Info("order cancelled", "order", o.ID, "reason", o.Reason.Code)
					}
					s.report(ctx, o)
					return err
				})
			},
		},
		saga.Step[sagaState]{
			Name:    "reserve-stock",
			Timeout: 5 * time.Second,
			Retry:   attempts(3),
			Execute: s.noteFailure(func(ctx context.Context, st *sagaState) error {
				key, _ := saga.IdempotencyKeyFromContext(ctx)
				err := platform.CallJSON(ctx, s.deps.Client, http.MethodPost, s.deps.URL(platform.ProductService, "/reservations"), "",
					products.ReserveRequest{Key: key, Items: st.Items}, nil)
				if clientError(err) {
					// Out of stock, or released first: the product-service
					// refused in the transaction that would have reserved.
					return saga.NotApplied(err)
				}
				return err // a timeout, a transport error: maybe reserved, so released
			}),
			Compensate: func(ctx context.Context, st *sagaState) error {
				key, _ := saga.IdempotencyKeyFromContext(ctx)
				return platform.CallJSON(ctx, s.deps.Client, http.MethodPost, s.deps.URL(platform.ProductService, "/reservations/"+key+"/release"), "", nil, nil)
			},
		},
		saga.Step[sagaState]{
			Name:      "charge-payment",
			Timeout:   5 * time.Second,
			Retry:     attempts(2),
			Retryable: func(err error) bool { return !clientError(err) && !errors.Is(err, breaker.ErrOpen) },
			Execute: s.noteFailure(func(ctx context.Context, st *sagaState) error {
				key, _ := saga.IdempotencyKeyFromContext(ctx)
				req := payments.ChargeRequest{Key: key, OrderID: st.OrderID, Customer: st.Customer, AmountCents: st.TotalCents}
				err := s.payment.Execute(ctx, func(ctx context.Context) error {
					return platform.CallJSON(ctx, s.deps.Client, http.MethodPost, s.deps.URL(platform.PaymentService, "/charges"), "", req, nil)
				})
				if notCharged(err) {
					return saga.NotApplied(err)
				}
				st.ChargeRequested = err == nil
				return err // a timeout, a transport error: maybe charged, so refunded
			}),
			// The charge's outcome comes as the payment-service's event,
			// keyed by the charge's key (the step's idempotency key); an
			// order unpaid by its deadline is cancelled.
			Wait: &saga.Wait[sagaState]{
				Signal: true,
				For:    s.cfg.PaymentDeadline,
				OnSignal: func(ctx context.Context, st *sagaState, sig saga.Signal) error {
					var e payments.Event
					if err := json.Unmarshal(sig.Payload, &e); err != nil {
						return fmt.Errorf("orders: payment event of %s: %w", st.OrderID, err)
					}
					if sig.Type == payments.EventConfirmed && e.Status == payments.StatusCharged {
						st.Paid = true
						return nil
					}
					s.note(ctx, st.OrderID, ReasonPaymentDeclined, false)
					return fmt.Errorf("orders: payment of %s %s: %s", st.OrderID, e.Status, e.Reason)
				},
			},
			Compensate: func(ctx context.Context, st *sagaState) error {
				if st.ChargeRequested && !st.Paid {
					// No outcome came in time (a decline noted its own).
					s.note(ctx, st.OrderID, ReasonPaymentTimeout, true)
				}
				key, _ := saga.IdempotencyKeyFromContext(ctx)
				// Refunds go around the breaker: an open breaker must not
				// stop money from going back.
				return platform.CallJSON(ctx, s.deps.Client, http.MethodPost, s.deps.URL(platform.PaymentService, "/refunds"), "",
					payments.RefundRequest{Key: key}, nil)
			},
		},
		saga.Step[sagaState]{
			// Confirms the order and books its shipment with the
			// warehouse. The shop has no warehouse: the booking is the
			// warehouse's answer, a shipment.dispatched event the outbox
			// holds until ShipAfter has passed.
			Name:  stepConfirm,
			Local: true,
			Retry: attempts(3),
			Execute: func(ctx context.Context, st *sagaState) error {
				id, _ := saga.IDFromContext(ctx)
				st.TrackingNumber = trackingNumber(st.OrderID)
				return s.inTx(ctx, func(tx *platform.Tx) error {
					o, err := s.st.settle(ctx, tx, st.OrderID, StatusConfirmed, nil)
					if err != nil {
						return err
					}
					s.report(ctx, o)
					return s.st.bookShipment(ctx, tx, ShipmentEvent{Key: id + "/" + stepAwaitShipment,
						OrderID: st.OrderID, TrackingNumber: st.TrackingNumber}, s.cfg.ShipAfter)
				})
			},
		},
		saga.Step[sagaState]{
			Name: stepAwaitShipment,
			Wait: &saga.Wait[sagaState]{
				Signal: true,
				For:    s.cfg.ShipDeadline,
				OnSignal: func(ctx context.Context, st *sagaState, sig saga.Signal) error {
					var e ShipmentEvent
					if err := json.Unmarshal(sig.Payload, &e); err != nil || e.TrackingNumber == "" {
						return fmt.Errorf("orders: shipment event of %s: %v (%s)", st.OrderID, err, sig.Payload)
					}
					st.TrackingNumber, st.Shipped = e.TrackingNumber, true
					return nil
				},
			},
			Compensate: func(ctx context.Context, st *sagaState) error {
				if !st.Shipped {
					s.note(ctx, st.OrderID, ReasonNotShipped, true)
				}
				return nil
			},
		},
		saga.Step[sagaState]{
			Name:  stepShip,
			Local: true,
			Retry: attempts(3),
			Execute: func(ctx context.Context, st *sagaState) error {
				return s.inTx(ctx, func(tx *platform.Tx) error {
					o, err := s.st.ship(ctx, tx, st.OrderID, st.TrackingNumber)
					if err == nil {
						s.report(ctx, o)
					}
					return err
				})
			},
		},
	)
}

// The names of the saga's steps that its code refers to.
const (
	stepOrder         = "order"
	stepConfirm       = "confirm"
	stepAwaitShipment = "await-shipment"
	stepShip          = "ship"
)

// trackingNumber returns a new tracking number for the shipment of order
// id.
func trackingNumber(id string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "TRK-" + strings.ToUpper(hex.EncodeToString(b))
}

// note stores the reason code as the order's failure note (see
// noteFailure), or, with ifNone, only when it has none yet. A failure to
// note is logged: the order is then cancelled as not completed.
func (s *Service) note(ctx context.Context, id, code string, ifNone bool) {
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.st.noteFailure(nctx, id, reasonOf(code), ifNone); err != nil {
		s.deps.Logger.Warn("cannot note why the order failed; it will be cancelled as not completed",
			"order", id, "err", err)
	}
}

// paymentBreaker guards the charges on the shop's breaker policy
// (platform.BreakerOptions): a decline (402) or a refusal (409) is a
// success, the payment-service answered; firstOpen is its first open
// interval.
func paymentBreaker(firstOpen time.Duration, opts ...breaker.Option) (*breaker.Breaker, error) {
	return platform.NewBreaker("payment-service", firstOpen, opts...)
}
