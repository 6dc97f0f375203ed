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

func (s *Service) newSaga() (*saga.Saga[sagaState], error) {
	return saga.New(SagaName,
		saga.Step[sagaState]{
			Name:    "order",
			Execute: func(context.Context, *sagaState) error { return nil },
			Compensate: func(ctx context.Context, st *sagaState) error {
				return s.st.settle(ctx, st.OrderID, StatusCancelled, s.cancelReason(ctx))
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
			Retry: attempts(3),
			Execute: func(ctx context.Context, st *sagaState) error {
				return s.st.settle(ctx, st.OrderID, StatusConfirmed, nil)
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
