package orders

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/examples/shop/internal/products"
	"github.com/go-microkit/microkit/examples/shop/internal/products/productpb"
	"github.com/go-microkit/microkit/saga"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// CreateOrderRequest is the body of POST /orders. ID, when set, is an
// idempotency key: sending the same request again with it returns the
// order it made (200), and sending a different request with it is refused
// (409 id_conflict), as payment APIs treat the reuse of a key.
type CreateOrderRequest struct {
	// ID, when set, is the order's id and makes retries idempotent. Order
	// ids are one namespace for every customer, so an id used by another
	// customer is refused exactly like one of the caller's own ids reused
	// for a different order, and only after the rest of the request was
	// found valid: the answer tells nothing about whose the id is, and a
	// malformed request nothing about whether it is taken. Ids made by the
	// service (or random ones) never meet.
	ID string `json:"id,omitempty"`
	// Items are 1 to 20 lines. Lines of the same product are merged into
	// one (their quantities added).
	Items []products.Item `json:"items"`
}

// errIDConflict is the one answer to an order id already used by another
// order: the caller's own with other items, or another customer's.
var errIDConflict = &orderError{http.StatusConflict, "id_conflict",
	"this order id is already used by a different order; send the same items to get that order back, or use a new id"}

// mergeLines checks the quantities and merges the lines of one product
// (products.MergeItems), so that a product is reserved and priced once.
func mergeLines(items []products.Item) ([]products.Item, error) {
	for _, it := range items {
		if it.Quantity <= 0 || it.Quantity > 1000 {
			return nil, &orderError{http.StatusBadRequest, "bad_request", "quantities must be 1 to 1000"}
		}
	}
	merged := products.MergeItems(items)
	for _, it := range merged {
		if it.Quantity > 1000 {
			return nil, &orderError{http.StatusBadRequest, "bad_request", "quantities must be 1 to 1000 per product"}
		}
	}
	return merged, nil
}

// replay answers a request whose id names the stored order o: o itself
// when it is the caller's and has the same lines, else errIDConflict.
func replay(o Order, customer string, items []products.Item) (Order, error) {
	if o.Customer != customer || !slices.Equal(o.Items, items) {
		return Order{}, errIDConflict
	}
	return o, errReplayed
}

// errReplayed tells the handler that create returned an existing order.
var errReplayed = errors.New("orders: replayed")

var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidID reports whether id can be an order's id: 1 to 64 letters,
// digits, - or _. No order has any other id, so a caller that builds a URL
// from an id it was given refuses the others as unknown orders.
func ValidID(id string) bool { return validID.MatchString(id) }

// orderError is an answer of the create handler other than the order.
type orderError struct {
	status        int
	code, message string
}

// Error returns the message.
func (e *orderError) Error() string { return e.message }

// create handles "create order": validate, then run the saga, whose first
// step stores the order with its order.created event and the saga's
// record in one transaction.
func (s *Service) create(ctx context.Context, customer string, req CreateOrderRequest, settle *settleWatch) (Order, error) {
	// An id the service makes is new: only a caller's own id can be taken.
	given := req.ID != ""
	if !given {
		req.ID = "o-" + eventbus.NewID()
	}
	if !ValidID(req.ID) {
		return Order{}, &orderError{http.StatusBadRequest, "bad_request", "id must be 1 to 64 letters, digits, - or _"}
	}
	if len(req.Items) == 0 || len(req.Items) > 20 {
		return Order{}, &orderError{http.StatusBadRequest, "bad_request", "an order has 1 to 20 items"}
	}
	items, err := mergeLines(req.Items)
	if err != nil {
		return Order{}, err
	}
	// A retry of the caller's own order is answered at once, whatever has
	// changed since (stock, breakers). Any other use of a taken id is
	// refused only once the request proved valid in every other way, so
	// that a malformed probe is answered the same whether the id is taken
	// or not.
	taken := false
	if given {
		existing, err := s.st.get(ctx, req.ID)
		taken = err == nil
		if taken {
			if o, err := replay(existing, customer, items); errors.Is(err, errReplayed) {
				return o, err
			}
		} else if !errors.Is(err, errNotFound) {
			return Order{}, err
		}
	}
	// Fail fast: with the payment breaker open the saga could only
	// compensate, so do not take stock at all.
	if st := s.payment.State(); st == breaker.Open || st == breaker.ForcedOpen {
		return Order{}, &orderError{http.StatusServiceUnavailable, "payment_unavailable",
			"payments are unavailable just now, so no order is taken; retry later"}
	}
	var total int64
	for _, it := range items {
		p, err := s.product.GetProduct(ctx, &productpb.GetProductRequest{Id: it.ProductID})
		if status.Code(err) == codes.NotFound {
			// The id is echoed only when it is a plain one: the answer
			// must not carry control characters or megabytes back.
			msg := "a product_id names no product of the catalog"
			if ValidID(it.ProductID) {
				msg = "no product " + strconv.Quote(it.ProductID)
			}
			return Order{}, &orderError{http.StatusBadRequest, "unknown_product", msg}
		}
		if err != nil {
			s.deps.Logger.Warn("product-service failed", "product", it.ProductID, "err", err)
			return Order{}, &orderError{http.StatusServiceUnavailable, "product_unavailable", "the product catalog is unavailable; retry later"}
		}
		if p.GetStock() < it.Quantity {
			return Order{}, &orderError{http.StatusConflict, "out_of_stock", fmt.Sprintf("only %d of %q left", p.GetStock(), p.GetId())}
		}
		total += p.GetPriceCents() * it.Quantity
	}
	if taken {
		return Order{}, errIDConflict
	}
	// The saga outlives a client that hangs up: it is not the client's to
	// cancel, and it keeps the request's trace.
	var out outcome
	sctx, cancel := context.WithTimeout(withOutcome(context.WithoutCancel(ctx), &out), 30*time.Second)
	defer cancel()
	if settle != nil {
		// Watched before the saga runs: a settlement by this process, however
		// soon, is not missed, and the wait needs no read to begin.
		settle.ch, settle.stop = s.waiters.watch(req.ID)
	}
	_, runErr := s.def.Run(sctx, s.orch, sagaState{OrderID: req.ID, Customer: customer, Items: items, TotalCents: total}, saga.WithID(req.ID))
	s.relay.Kick()
	if errors.Is(runErr, saga.ErrWaiting) {
		// Parked, for the payment's outcome (or, when it came first, for
		// the shipment): the order is as its last step left it.
		runErr = nil
	}
	switch {
	case errors.Is(runErr, errOrderExists) || errors.Is(runErr, saga.ErrDuplicate):
		// A concurrent request with this id stored its order first.
		stored, err := s.st.get(ctx, req.ID)
		if err != nil {
			return Order{}, err
		}
		return replay(stored, customer, items)
	case runErr == nil && out.set, errors.Is(runErr, saga.ErrCompensated) && out.set && out.order.Status != StatusPending:
		// As this run left it, and committed: parked (pending, or confirmed
		// when the payment's outcome came first) or completed; a
		// compensated saga committed every compensation, the cancel
		// included.
		return out.order, nil
	}
	// Stopped midway (the store failed, the deadline of the request's
	// saga context passed): the order is whatever was committed.
	o, err := s.st.get(ctx, req.ID)
	if err != nil {
		if runErr != nil {
			return Order{}, fmt.Errorf("orders: saga of %s: %w", req.ID, runErr)
		}
		return Order{}, err
	}
	if runErr != nil && o.Status == StatusPending {
		return o, fmt.Errorf("orders: saga of %s: %w", o.ID, runErr)
	}
	return o, nil
}

// maxPreferredWait bounds the wait a client may ask for.
const maxPreferredWait = 20 * time.Second

// preferredWait returns the wait a client asks for with the header
// "Prefer: wait=<seconds>" (RFC 7240), at most maxPreferredWait, or zero.
// POST /orders answers at once with the order pending while its payment's
// outcome is awaited; a client that asks for a wait gets the order once
// it is confirmed or cancelled, or as it is when the wait is over.
func preferredWait(r *http.Request) time.Duration {
	for _, v := range r.Header.Values("Prefer") {
		for pref := range strings.SplitSeq(v, ",") {
			name, val, ok := strings.Cut(strings.TrimSpace(pref), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(name), "wait") {
				continue
			}
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
			if err != nil || n <= 0 {
				return 0
			}
			// Capped before the multiplication, which would overflow.
			return time.Duration(min(n, int(maxPreferredWait/time.Second))) * time.Second
		}
	}
	return 0
}

func (s *Service) routes() {
	s.srv.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		customer := platform.Subject(r)
		if customer == "" {
			platform.WriteError(w, r, http.StatusUnauthorized, "unauthenticated", "no authenticated customer")
			return
		}
		var req CreateOrderRequest
		if !platform.ReadJSON(w, r, &req) {
			return
		}
		wait := preferredWait(r)
		var settle *settleWatch
		if wait > 0 {
			settle = &settleWatch{}
			defer settle.done()
		}
		o, err := s.create(r.Context(), customer, req, settle)
		if wait > 0 && (err == nil || errors.Is(err, errReplayed)) && o.Status == StatusPending {
			ctx, cancel := context.WithTimeout(r.Context(), wait)
			settled, werr := s.awaitSettled(ctx, o.ID, settle)
			cancel()
			if werr == nil {
				o = settled
			}
		}
		var oe *orderError
		switch {
		case errors.Is(err, errReplayed):
			platform.WriteJSON(w, http.StatusOK, o)
		case errors.As(err, &oe):
			platform.WriteError(w, r, oe.status, oe.code, oe.message)
		case err != nil:
			platform.WriteInternal(w, r, err)
		default:
			platform.WriteJSON(w, http.StatusCreated, o)
		}
	})
	s.srv.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		o, err := s.st.get(r.Context(), r.PathValue("id"))
		sub := platform.Subject(r)
		switch {
		case errors.Is(err, errNotFound) || err == nil && sub != "" && o.Customer != sub:
			platform.WriteError(w, r, http.StatusNotFound, "not_found", "no such order")
		case err != nil:
			platform.WriteInternal(w, r, err)
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
			platform.WriteInternal(w, r, err)
			return
		}
		platform.WriteJSON(w, http.StatusOK, os)
	})
}
