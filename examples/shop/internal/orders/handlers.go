package orders

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/examples/shop/internal/products"
	"github.com/go-microkit/microkit/saga"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// CreateOrderRequest is the body of POST /orders. ID, when set, makes the
// request idempotent: a retry with the same ID returns the same order.
type CreateOrderRequest struct {
	// ID, when set, is the order's id and makes retries idempotent.
	ID string `json:"id,omitempty"`
	// Items are 1 to 20 lines.
	Items []products.Item `json:"items"`
}

var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// orderError is an answer of the create handler other than the order.
type orderError struct {
	status        int
	code, message string
}

// Error returns the message.
func (e *orderError) Error() string { return e.message }

// create is the seed's CreateOrderHandler: validate, store with its event,
// run the saga.
func (s *Service) create(ctx context.Context, customer string, req CreateOrderRequest) (Order, error) {
	if req.ID == "" {
		req.ID = "o-" + eventbus.NewID()
	}
	if !validID.MatchString(req.ID) {
		return Order{}, &orderError{http.StatusBadRequest, "bad_request", "id must be 1 to 64 letters, digits, - or _"}
	}
	if len(req.Items) == 0 || len(req.Items) > 20 {
		return Order{}, &orderError{http.StatusBadRequest, "bad_request", "an order has 1 to 20 items"}
	}
	if o, err := s.st.get(ctx, req.ID); err == nil {
		if o.Customer != customer {
			return Order{}, &orderError{http.StatusConflict, "id_taken", "this order id belongs to another customer"}
		}
		return o, nil
	}
	// Fail fast: with the payment breaker open the saga could only
	// compensate, so do not take stock at all.
	if st := s.payment.State(); st == breaker.Open || st == breaker.ForcedOpen {
		return Order{}, &orderError{http.StatusServiceUnavailable, "payment_unavailable",
			"payment-service is failing: its circuit breaker is open, so orders are refused until it recovers; retry later"}
	}
	var total int64
	for _, it := range req.Items {
		if it.Quantity <= 0 || it.Quantity > 1000 {
			return Order{}, &orderError{http.StatusBadRequest, "bad_request", "quantities must be 1 to 1000"}
		}
		p, err := s.product.GetProduct(ctx, it.ProductID)
		if status.Code(err) == codes.NotFound {
			return Order{}, &orderError{http.StatusBadRequest, "unknown_product", fmt.Sprintf("no product %q", it.ProductID)}
		}
		if err != nil {
			return Order{}, &orderError{http.StatusServiceUnavailable, "product_unavailable", "product-service: " + err.Error()}
		}
		if p.Stock < it.Quantity {
			return Order{}, &orderError{http.StatusConflict, "out_of_stock", fmt.Sprintf("only %d of %q left", p.Stock, p.ID)}
		}
		total += p.PriceCents * it.Quantity
	}
	now := s.cfg.Now()
	o := Order{ID: req.ID, Customer: customer, Status: StatusPending, Items: req.Items, TotalCents: total, CreatedAt: now, UpdatedAt: now}
	created, err := s.st.create(ctx, o)
	if err != nil {
		return Order{}, err
	}
	if !created {
		return s.st.get(ctx, req.ID)
	}
	s.relay.Kick()
	// The saga outlives a client that hangs up: it is not the client's to
	// cancel, and it keeps the request's trace.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, runErr := s.def.Run(sctx, s.orch, sagaState{OrderID: o.ID, Customer: customer, Items: o.Items, TotalCents: total}, saga.WithID(o.ID))
	s.relay.Kick()
	o, err = s.st.get(ctx, o.ID)
	if err != nil {
		return Order{}, err
	}
	if runErr != nil && o.Status == StatusPending {
		return o, fmt.Errorf("orders: saga of %s: %w", o.ID, runErr)
	}
	return o, nil
}

func (s *Service) routes() {
	s.srv.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		customer := platform.Subject(r)
		if customer == "" {
			platform.WriteError(w, http.StatusUnauthorized, "unauthenticated", "no authenticated customer")
			return
		}
		var req CreateOrderRequest
		if !platform.ReadJSON(w, r, &req) {
			return
		}
		o, err := s.create(r.Context(), customer, req)
		var oe *orderError
		switch {
		case errors.As(err, &oe):
			platform.WriteError(w, oe.status, oe.code, oe.message)
		case err != nil:
			platform.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
		default:
			platform.WriteJSON(w, http.StatusCreated, o)
		}
	})
	s.srv.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		o, err := s.st.get(r.Context(), r.PathValue("id"))
		sub := platform.Subject(r)
		switch {
		case errors.Is(err, errNotFound) || err == nil && sub != "" && o.Customer != sub:
			platform.WriteError(w, http.StatusNotFound, "not_found", "no such order")
		case err != nil:
			platform.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
		default:
			platform.WriteJSON(w, http.StatusOK, o)
		}
	})
	s.srv.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		customer := platform.Subject(r)
		if customer == "" {
			customer = r.URL.Query().Get("customer")
		}
		os, err := s.st.list(r.Context(), customer, 1000)
		if err != nil {
			platform.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		platform.WriteJSON(w, http.StatusOK, os)
	})
}
