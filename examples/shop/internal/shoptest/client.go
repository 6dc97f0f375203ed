// Package shoptest drives a running shop through its gateway, as a user
// would: it is shared by the end-to-end tests and the load generator.
package shoptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// Client calls the shop's gateway, as one user once logged in. It is safe
// for concurrent use once logged in.
type Client struct {
	// Base is the gateway's base URL.
	Base string
	// HTTP is the client used; nil means http.DefaultClient.
	HTTP *http.Client
	// Token is the bearer token Login stored.
	Token string
	// Header is sent with every request (a traceparent, say).
	Header http.Header
}

// Response is a decoded answer.
type Response struct {
	// Status is the HTTP status.
	Status int
	// Header is the response header.
	Header http.Header
	// Body is the raw body.
	Body []byte
}

// Decode decodes the body into v.
func (r Response) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("decode %s: %w", r.Body, err)
	}
	return nil
}

// ErrorCode returns the "code" of an error body, or "".
func (r Response) ErrorCode() string {
	var b struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &b)
	return b.Error.Code
}

// Do sends in (nil: no body) as JSON and returns the answer; only transport
// failures are errors.
func (c *Client) Do(ctx context.Context, method, path string, in any) (Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return Response{}, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return Response{}, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.Send(req)
}

// Send sends req, a request made by the caller (any body, any header
// spelling), with the client's Header and token added, and returns the
// answer; only transport failures are errors.
func (c *Client) Send(req *http.Request) (Response, error) {
	for k, v := range c.Header {
		req.Header[k] = v
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Expect is Do that wants the status want and decodes the body into out
// (when not nil).
func (c *Client) Expect(ctx context.Context, method, path string, in any, want int, out any) error {
	r, err := c.Do(ctx, method, path, in)
	if err != nil {
		return err
	}
	if r.Status != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	if out != nil {
		return r.Decode(out)
	}
	return nil
}

// SignUpAndLogin signs the user up (202 Accepted, whether the email is new
// or registered already) and logs in.
func (c *Client) SignUpAndLogin(ctx context.Context, email, password string) error {
	creds := map[string]string{"email": email, "password": password}
	if err := c.Expect(ctx, http.MethodPost, "/api/users/signup", creds, http.StatusAccepted, nil); err != nil {
		return fmt.Errorf("sign up: %w", err)
	}
	return c.Login(ctx, email, password)
}

// Login logs in and stores the token.
func (c *Client) Login(ctx context.Context, email, password string) error {
	var tok struct {
		Token string `json:"token"`
	}
	if err := c.Expect(ctx, http.MethodPost, "/api/users/login", map[string]string{"email": email, "password": password}, http.StatusOK, &tok); err != nil {
		return err
	}
	c.Token = tok.Token
	return nil
}

// Item is a line of an order.
type Item struct {
	// ProductID identifies the product.
	ProductID string `json:"product_id"`
	// Quantity is how many; at least 1.
	Quantity int64 `json:"quantity"`
}

// Order is an order as the API shows it.
type Order struct {
	// ID identifies it.
	ID string `json:"id"`
	// Customer is the user id of the buyer.
	Customer string `json:"customer"`
	// Status is pending, confirmed, shipped or cancelled.
	Status string `json:"status"`
	// TrackingNumber is the shipment's, once the order is confirmed.
	TrackingNumber string `json:"tracking_number"`
	// Items are the ordered lines.
	Items []Item `json:"items"`
	// TotalCents is the order total in cents.
	TotalCents int64 `json:"total_cents"`
	// Reason says why a cancelled order was cancelled; nil for the others.
	Reason *Reason `json:"reason"`
}

// Reason is why an order was cancelled, as the customer reads it.
type Reason struct {
	// Code is stable, e.g. payment_declined.
	Code string `json:"code"`
	// Message is for people.
	Message string `json:"message"`
}

// String returns the code and the message; "none" for nil.
func (r *Reason) String() string {
	if r == nil {
		return "none"
	}
	return r.Code + ": " + r.Message
}

// Product is a catalog entry.
type Product struct {
	// ID identifies it.
	ID string `json:"id"`
	// PriceCents is the unit price in cents.
	PriceCents int64 `json:"price_cents"`
	// Stock is the quantity left.
	Stock int64 `json:"stock"`
}

// Notification is a stored notification.
type Notification struct {
	// EventID is the ID of the event it came from.
	EventID string `json:"event_id"`
	// OrderID identifies the order.
	OrderID string `json:"order_id"`
	// Kind is the event type, e.g. order.confirmed.
	Kind string `json:"kind"`
	// Message is the text sent to the customer.
	Message string `json:"message"`
}

// PlaceOrder posts an order with the given id ("" lets the service choose)
// and returns the answer. It asks to wait for the order to settle
// ("Prefer: wait=20"): the answer is the order once its payment's outcome
// came, confirmed or cancelled, or still pending after 20 seconds.
func (c *Client) PlaceOrder(ctx context.Context, id string, items ...Item) (Response, error) {
	return c.placeOrder(ctx, id, "wait=20", items)
}

// PlaceOrderNoWait places an order as PlaceOrder does, without asking to
// wait: the answer is the order as its saga left it when it parked,
// pending until the payment-service's outcome arrives.
func (c *Client) PlaceOrderNoWait(ctx context.Context, id string, items ...Item) (Response, error) {
	return c.placeOrder(ctx, id, "", items)
}

func (c *Client) placeOrder(ctx context.Context, id, prefer string, items []Item) (Response, error) {
	body := map[string]any{"items": items}
	if id != "" {
		body["id"] = id
	}
	b, err := json.Marshal(body)
	if err != nil {
		return Response{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+"/api/orders", bytes.NewReader(b))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if prefer != "" {
		req.Header.Set("Prefer", prefer)
	}
	return c.Send(req)
}

// PlaceUntilRefused places orders of item, one after another, until one is
// answered 503 (the order-service refuses orders while its payment breaker
// is open), at most limit of them, and returns every answer, the 503
// last. Without a refusal among them it returns an error as well.
func (c *Client) PlaceUntilRefused(ctx context.Context, limit int, item Item) ([]Response, error) {
	var answers []Response
	for range limit {
		r, err := c.PlaceOrder(ctx, "", item)
		if err != nil {
			return answers, err
		}
		answers = append(answers, r)
		if r.Status == http.StatusServiceUnavailable {
			return answers, nil
		}
	}
	return answers, fmt.Errorf("no order of %d was refused with 503", limit)
}

// SetPaymentFaults sets the payment-service's fault injection through
// the gateway (PUT /api/admin/payment-faults): the share of charges and
// refunds that fail. c must be signed in as the administrator.
func (c *Client) SetPaymentFaults(ctx context.Context, errorRate float64) error {
	return c.Expect(ctx, http.MethodPut, "/api/admin/payment-faults", map[string]any{"error_rate": errorRate}, http.StatusOK, nil)
}

// WaitNotifications waits until the notifications of order orderID that
// c reads on /api/notifications are of kinds, sorted, and no others; it
// returns the last mismatch once ctx ends.
func (c *Client) WaitNotifications(ctx context.Context, orderID string, kinds ...string) error {
	return Eventually(ctx, 20*time.Millisecond, func() error {
		var ns []Notification
		if err := c.Expect(ctx, http.MethodGet, "/api/notifications", nil, http.StatusOK, &ns); err != nil {
			return err
		}
		var got []string
		for _, n := range ns {
			if n.OrderID == orderID {
				got = append(got, n.Kind)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, kinds) {
			return fmt.Errorf("notifications of %s: %v, want %v", orderID, got, kinds)
		}
		return nil
	})
}

// Eventually calls check every interval until it returns nil or ctx ends,
// and returns check's last error then.
func Eventually(ctx context.Context, interval time.Duration, check func() error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up waiting: %w", err)
		case <-t.C:
		}
	}
}
