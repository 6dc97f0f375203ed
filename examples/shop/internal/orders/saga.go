package orders

import (
	"context"
	"errors"
	"net/http"
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

// report records o as the order's latest state for the request running the
// saga, if there is one (a saga resumed by Recover has none).
func report(ctx context.Context, o Order) {
	if out, ok := ctx.Value(outcomeKey{}).(*outcome); ok {
		out.order, out.set = o, true
	}
}

// newSaga defines the CreateOrderSaga. Its first and last steps are local:
// their writes (the order row, its status, their outbox events) commit
// with the saga's record in one transaction of the order-service's
// database, so that the saga and its order start together, and a crash
// never leaves an order without its saga or a step done but unrecorded.
func (s *Service) newSaga() (*saga.Saga[sagaState], error) {
	return saga.New(SagaName,
		saga.Step[sagaState]{
			Name:  "order",
			Local: true,
			Execute: func(ctx context.Context, st *sagaState) error {
				return s.inTx(ctx, func(tx *platform.Tx) error {
					now := time.Now()
					o, err := s.st.insert(ctx, tx, Order{ID: st.OrderID, Customer: st.Customer, Status: StatusPending,
						Items: st.Items, TotalCents: st.TotalCents, CreatedAt: now, UpdatedAt: now})
					if errors.Is(err, errOrderExists) {
						return retry.Permanent(err) // another request's order: not ours to run
					}
					report(ctx, o)
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
					report(ctx, o)
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
				return err // a timeout, a transport error: maybe charged, so refunded
			}),
			Compensate: func(ctx context.Context, st *sagaState) error {
				key, _ := saga.IdempotencyKeyFromContext(ctx)
				// Refunds go around the breaker: an open breaker must not
				// stop money from going back.
				return platform.CallJSON(ctx, s.deps.Client, http.MethodPost, s.deps.URL(platform.PaymentService, "/refunds"), "",
					payments.RefundRequest{Key: key}, nil)
			},
		},
		saga.Step[sagaState]{
			Name:  "confirm",
			Local: true,
			Retry: attempts(3),
			Execute: func(ctx context.Context, st *sagaState) error {
				return s.inTx(ctx, func(tx *platform.Tx) error {
					o, err := s.st.settle(ctx, tx, st.OrderID, StatusConfirmed, nil)
					report(ctx, o)
					return err
				})
			},
		},
	)
}

// paymentBreaker guards the charges on the shop's breaker policy
// (platform.BreakerOptions): a decline (402) or a refusal (409) is a
// success, the payment-service answered; firstOpen is its first open
// interval.
func paymentBreaker(firstOpen time.Duration, opts ...breaker.Option) (*breaker.Breaker, error) {
	return platform.NewBreaker("payment-service", firstOpen, opts...)
}
