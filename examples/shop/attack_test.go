package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/examples/shop/internal/shop"
	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
	"github.com/go-microkit/microkit/gateway"
)

// attack is one request an attacker (or a careless client) sends through
// the gateway, and the answer the shop must give. Paths, bodies and header
// values may name the fixture with {alice}, {alice.order}, {bob},
// {bob.order}: see attackFixture.
type attack struct {
	name string
	// as is who sends it: "alice" and "bob" (customers), "admin" (the
	// seeded administrator) or "" (no token).
	as           string
	method, path string
	// body is sent as is; "" sends none.
	body string
	// chunked hides the body's length (Transfer-Encoding: chunked).
	chunked bool
	header  map[string]string
	want    int
	// code, when set, is the error code the answer must carry.
	code string
	// has and hasNot are texts the body must and must not contain.
	has, hasNot []string
	// same groups attacks whose answers must be identical (but for the
	// request id): an answer that differs tells the attacker something.
	same string
}

// leaks are texts no answer may carry: Go types and decoder wording,
// SQL, internal addresses, service names, status lines, the error prefixes
// of the shop's packages, and RPC errors.
var leaks = []string{"Go struct", "struct field", "int64", "json:", "products.Item", "orders.",
	"UNIQUE", "constraint", "SQL", "sqlite", "pq:", "rpc error", "127.0.0.1", "goroutine",
	"http://", "https://", "-service", "status 4", "status 5", "breaker", "injected",
	"payments:", "products:", "orders:", "users:", "platform:", "saga:"}

const aliceItems = `[{"product_id":"p-keyboard","quantity":1}]`

// big is a JSON body over the services' 1 MiB limit.
var big = `{"items":` + aliceItems + `,"note":"` + strings.Repeat("x", 2<<20) + `"}`

var attacks = []attack{
	// Reads by subject: every endpoint, another customer's data.
	{name: "own order", as: "alice", method: "GET", path: "/api/orders/{alice.order}", want: 200, has: []string{"{alice.order}"}},
	{name: "another's order", as: "bob", method: "GET", path: "/api/orders/{alice.order}", want: 404, code: "not_found", same: "unseen order"},
	{name: "unknown order", as: "bob", method: "GET", path: "/api/orders/no-such-order", want: 404, code: "not_found", same: "unseen order"},
	{name: "another's order with a forged subject header", as: "bob", method: "GET", path: "/api/orders/{alice.order}",
		header: map[string]string{"X-Auth-Subject": "{alice}", "X_Auth_Subject": "{alice}"}, want: 404},
	{name: "own order details", as: "alice", method: "GET", path: "/api/orders/{alice.order}/details", want: 200, has: []string{"{alice.order}", "charged"}},
	{name: "another's order details", as: "bob", method: "GET", path: "/api/orders/{alice.order}/details", want: 404, code: "not_found", same: "unseen details"},
	{name: "unknown order details", as: "bob", method: "GET", path: "/api/orders/no-such-order/details", want: 404, code: "not_found", same: "unseen details"},
	{name: "another's orders by query", as: "bob", method: "GET", path: "/api/orders?customer={alice}", want: 200,
		has: []string{"{bob.order}"}, hasNot: []string{"{alice.order}", "{alice}"}},
	{name: "own orders list", as: "bob", method: "GET", path: "/api/orders", want: 200, has: []string{"{bob.order}"}, hasNot: []string{"{alice.order}"}},
	{name: "own notifications list", as: "bob", method: "GET", path: "/api/notifications", want: 200, hasNot: []string{"{alice.order}", "{alice}"}},
	{name: "own notifications", as: "alice", method: "GET", path: "/api/notifications?order_id={alice.order}", want: 200, has: []string{"order.confirmed"}},
	{name: "another's notifications by order", as: "bob", method: "GET", path: "/api/notifications?order_id={alice.order}", want: 200,
		hasNot: []string{"{alice.order}", "{alice}"}},
	{name: "another's notifications by customer", as: "bob", method: "GET", path: "/api/notifications?customer={alice}", want: 200,
		hasNot: []string{"{alice.order}", "{alice}"}},
	{name: "me with a forged subject header", as: "bob", method: "GET", path: "/api/users/me",
		header: map[string]string{"X-Auth-Subject": "{alice}"}, want: 200, has: []string{"{bob}"}, hasNot: []string{"{alice}"}},
	{name: "anonymous order", method: "GET", path: "/api/orders/{alice.order}", want: 401},
	{name: "anonymous details", method: "GET", path: "/api/orders/{alice.order}/details", want: 401},
	{name: "anonymous notifications", method: "GET", path: "/api/notifications?order_id={alice.order}", want: 401},
	{name: "anonymous me", method: "GET", path: "/api/users/me", want: 401},

	// Why an order was cancelled: a code and words for the customer, in
	// the order, its details and its notification (every row checks that
	// no internal address, service name or error text leaks).
	{name: "declined order's reason", as: "alice", method: "GET", path: "/api/orders/{alice.declined}", want: 200,
		has: []string{`"status":"cancelled"`, `"code":"payment_declined"`, "declined"}},
	{name: "declined order's details", as: "alice", method: "GET", path: "/api/orders/{alice.declined}/details", want: 200,
		has: []string{`"code":"payment_declined"`, "Your order {alice.declined} was cancelled. The payment was declined"}},
	{name: "declined order's notification", as: "alice", method: "GET", path: "/api/notifications?order_id={alice.declined}", want: 200,
		has: []string{"order.cancelled", "Your order {alice.declined} was cancelled. The payment was declined"}},
	{name: "failed payment's reason", as: "alice", method: "GET", path: "/api/orders/{alice.unpaid}", want: 200,
		has: []string{`"status":"cancelled"`, `"code":"service_unavailable"`}},
	{name: "failed payment's notification", as: "alice", method: "GET", path: "/api/notifications?order_id={alice.unpaid}", want: 200,
		has: []string{"order.cancelled", "Your order {alice.unpaid} was cancelled. The shop could not complete the order"}},
	{name: "orders list with reasons", as: "alice", method: "GET", path: "/api/orders", want: 200,
		has: []string{"payment_declined", "service_unavailable"}},

	// Administration is for the administrator only.
	{name: "customer reads payment faults", as: "alice", method: "GET", path: "/api/admin/payment-faults", want: 403, code: "forbidden"},
	{name: "customer sets payment faults", as: "alice", method: "PUT", path: "/api/admin/payment-faults", body: `{"down":true}`, want: 403, code: "forbidden"},
	{name: "customer with a forged role header", as: "alice", method: "PUT", path: "/api/admin/payment-faults", body: `{"down":true}`,
		header: map[string]string{"X-Auth-Role": "admin", "X_Auth_Role": "admin"}, want: 403},
	{name: "anonymous sets payment faults", method: "PUT", path: "/api/admin/payment-faults", body: `{"down":true}`, want: 401},
	{name: "faults unchanged", as: "admin", method: "GET", path: "/api/admin/payment-faults", want: 200, has: []string{`"down":false`}},
	{name: "customer sets notification faults", as: "alice", method: "PUT", path: "/api/admin/notification-faults", body: `{"reject":true}`, want: 403, code: "forbidden"},
	{name: "anonymous sets notification faults", method: "PUT", path: "/api/admin/notification-faults", body: `{"reject":true}`, want: 401},
	{name: "notification faults unchanged", as: "admin", method: "GET", path: "/api/admin/notification-faults", want: 200, has: []string{`"reject":false`}},

	// Accounts: sign-up and login tell nobody which emails are registered.
	// A registered email is answered like a new one and keeps its account
	// and password; an unknown email and a wrong password get one answer.
	{name: "sign-up, new email", method: "POST", path: "/api/users/signup",
		body: `{"email":"carol@example.com","password":"carol-password"}`, want: 202, same: "sign-up"},
	{name: "sign-up, registered email", method: "POST", path: "/api/users/signup",
		body: `{"email":"alice@example.com","password":"mallory-password"}`, want: 202, same: "sign-up"},
	{name: "sign-up, registered email and its password", method: "POST", path: "/api/users/signup",
		body: `{"email":"alice@example.com","password":"alice-password"}`, want: 202, same: "sign-up"},
	{name: "sign-up, the administrator's email", method: "POST", path: "/api/users/signup",
		body: `{"email":"admin@shop.test","password":"mallory-password"}`, want: 202, same: "sign-up"},
	{name: "sign-up, the new email again", method: "POST", path: "/api/users/signup",
		body: `{"email":"carol@example.com","password":"carol-password"}`, want: 202, same: "sign-up"},
	{name: "login, the new account", method: "POST", path: "/api/users/login",
		body: `{"email":"carol@example.com","password":"carol-password"}`, want: 200, has: []string{`"token"`}},
	{name: "login, registered account keeps its password", method: "POST", path: "/api/users/login",
		body: `{"email":"alice@example.com","password":"alice-password"}`, want: 200, has: []string{`"user_id":"{alice}"`}},
	{name: "login, administrator keeps its password and role", method: "POST", path: "/api/users/login",
		body: `{"email":"admin@shop.test","password":"admin-password"}`, want: 200, has: []string{`"role":"admin"`}},
	{name: "login, the password of a sign-up over a registered email", method: "POST", path: "/api/users/login",
		body: `{"email":"alice@example.com","password":"mallory-password"}`, want: 401, code: "bad_credentials", same: "bad login"},
	{name: "login, wrong password", method: "POST", path: "/api/users/login",
		body: `{"email":"alice@example.com","password":"wrong-password"}`, want: 401, same: "bad login"},
	{name: "login, unknown email", method: "POST", path: "/api/users/login",
		body: `{"email":"nobody@example.com","password":"alice-password"}`, want: 401, same: "bad login"},
	{name: "login, not an email", method: "POST", path: "/api/users/login",
		body: `{"email":"nobody","password":"alice-password"}`, want: 401, same: "bad login"},

	// Order ids: no oracle, and a reused id with another body is refused.
	{name: "another's order id, same items", as: "bob", method: "POST", path: "/api/orders",
		body: `{"id":"{alice.order}","items":` + aliceItems + `}`, want: 409, code: "id_conflict", same: "id conflict"},
	{name: "another's order id, other items", as: "bob", method: "POST", path: "/api/orders",
		body: `{"id":"{alice.order}","items":[{"product_id":"p-mouse","quantity":1}]}`, want: 409, same: "id conflict"},
	{name: "own order id, other items", as: "bob", method: "POST", path: "/api/orders",
		body: `{"id":"{bob.order}","items":[{"product_id":"p-monitor","quantity":1}]}`, want: 409, same: "id conflict"},
	{name: "another's order id, unknown product", as: "bob", method: "POST", path: "/api/orders",
		body: `{"id":"{alice.order}","items":[{"product_id":"p-nothing","quantity":1}]}`, want: 400, code: "unknown_product", same: "unknown product"},
	{name: "free order id, unknown product", as: "bob", method: "POST", path: "/api/orders",
		body: `{"id":"free-id-1","items":[{"product_id":"p-nothing","quantity":1}]}`, want: 400, same: "unknown product"},
	{name: "another's order id, too many items", as: "bob", method: "POST", path: "/api/orders",
		body: `{"id":"{alice.order}","items":[{"product_id":"p-mouse","quantity":5000}]}`, want: 400, same: "bad quantity"},
	{name: "free order id, too many items", as: "bob", method: "POST", path: "/api/orders",
		body: `{"id":"free-id-1","items":[{"product_id":"p-mouse","quantity":5000}]}`, want: 400, same: "bad quantity"},
	{name: "own order id, same items", as: "alice", method: "POST", path: "/api/orders",
		body: `{"id":"{alice.order}","items":` + aliceItems + `}`, want: 200, has: []string{"{alice.order}", "confirmed"}},

	// Duplicate lines are one line, never a database error.
	{name: "duplicate product lines", as: "alice", method: "POST", path: "/api/orders",
		body: `{"items":[{"product_id":"p-mouse","quantity":1},{"product_id":"p-mouse","quantity":2}]}`, want: 201,
		header: map[string]string{"Prefer": "wait=20"}, has: []string{`"status":"confirmed"`, `"quantity":3`}},
	{name: "duplicate lines over the per-product limit", as: "alice", method: "POST", path: "/api/orders",
		body: `{"items":[{"product_id":"p-mouse","quantity":1000},{"product_id":"p-mouse","quantity":1}]}`, want: 400},

	// Bodies over the limit.
	{name: "order body over the limit", as: "alice", method: "POST", path: "/api/orders", body: big, want: 413, code: gateway.CodeTooLarge},
	{name: "chunked order body over the limit", as: "alice", method: "POST", path: "/api/orders", body: big, chunked: true, want: 413},
	{name: "signup body over the limit", method: "POST", path: "/api/users/signup", body: big, want: 413},

	// Strict JSON, told in JSON terms.
	{name: "trailing garbage", as: "alice", method: "POST", path: "/api/orders", body: `{"items":` + aliceItems + `} garbage`, want: 400,
		has: []string{"after the JSON value"}},
	{name: "two JSON values", as: "alice", method: "POST", path: "/api/orders", body: `{"items":` + aliceItems + `}{}`, want: 400},
	{name: "unknown field", as: "alice", method: "POST", path: "/api/orders", body: `{"items":` + aliceItems + `,"coupon":"FREE"}`, want: 400,
		has: []string{`unknown field \"coupon\"`}},
	{name: "quantity of the wrong type", as: "alice", method: "POST", path: "/api/orders",
		body: `{"items":[{"product_id":"p-mouse","quantity":"1"}]}`, want: 400, has: []string{"items.quantity", "integer"}},
	{name: "email of the wrong type", method: "POST", path: "/api/users/login", body: `{"email":1,"password":"x"}`, want: 400},
	{name: "malformed JSON", method: "POST", path: "/api/users/login", body: `{"email":`, want: 400},
	{name: "empty body", as: "alice", method: "POST", path: "/api/orders", want: 400},
	{name: "unknown field on the admin endpoint", as: "admin", method: "PUT", path: "/api/admin/payment-faults", body: `{"dwn":true}`, want: 400},

	// Paths are the gateway's to route, cleaned or refused with its JSON
	// errors, never redirected; an order id that no order can have never
	// reaches a service's URL.
	{name: "dot segments to an internal endpoint", method: "GET", path: "/api/products/../stock", want: 404, code: "not_found"},
	{name: "dot segments to another route", as: "alice", method: "GET", path: "/api/orders/../admin/payment-faults", want: 403, code: "forbidden"},
	{name: "dot segments to details", as: "alice", method: "GET", path: "/api/orders/x/../{alice.order}/details", want: 200, has: []string{"charged"}},
	{name: "empty segment before details", as: "alice", method: "GET", path: "/api/orders//details", want: 404},
	{name: "escaped dot segment as the details' order id", as: "alice", method: "GET", path: "/api/orders/%2e%2e/details", want: 404, code: "not_found"},
	{name: "escaped slash in the details' order id", as: "alice", method: "GET", path: "/api/orders/..%2fcharges/details", want: 400, code: "bad_request"},
	{name: "escaped control character in the details' order id", as: "alice", method: "GET", path: "/api/orders/a%00/details", want: 400, code: "bad_request"},
	{name: "escaped dots in the details' order id", as: "alice", method: "GET", path: "/api/orders/%2e./details", want: 404, code: "not_found"},
	{name: "a details' order id no order can have", as: "alice", method: "GET", path: "/api/orders/a%20b/details", want: 404, code: "not_found", same: "unseen details"},
	{name: "dot segments to the key set", method: "GET", path: "/.well-known/jwks.json/..", want: 404},
	{name: "a service's metrics", method: "GET", path: "/metrics", want: 404, code: "not_found"},
	{name: "a service's readiness through dot segments", as: "alice", method: "GET", path: "/api/users/../../readyz", want: 404, code: "not_found"},
	{name: "the product-service's reservations", as: "alice", method: "POST", path: "/api/products/../reservations",
		body: `{"key":"k","items":[{"product_id":"p-mouse","quantity":1}]}`, want: 404, code: "not_found"},
	{name: "the payment-service's charges", as: "alice", method: "GET", path: "/api/orders/../charges", want: 404, code: "not_found"},
	{name: "the payment-service's refunds", as: "alice", method: "POST", path: "/api/admin/payment-faults/../../refunds",
		body: `{"key":"alice-order-1/charge-payment"}`, want: 404, code: "not_found"},

	// A client's own input comes back only when it is plain.
	{name: "control characters in a product id", as: "alice", method: "POST", path: "/api/orders",
		body: `{"items":[{"product_id":"p-\u0000<b>","quantity":1}]}`, want: 400, code: "unknown_product", hasNot: []string{`\x00`, `\u0000`, "<b>", `\u003cb`}},
	{name: "a long product id", as: "alice", method: "POST", path: "/api/orders",
		body: `{"items":[{"product_id":"` + strings.Repeat("p", 5000) + `","quantity":1}]}`, want: 400, code: "unknown_product", hasNot: []string{strings.Repeat("p", 100)}},

	// One error shape, whoever made the error (every row checks it; these
	// are the makers).
	{name: "gateway: no route", as: "alice", method: "GET", path: "/api/nothing-here", want: 404},
	{name: "gateway: method not allowed", as: "alice", method: "DELETE", path: "/api/orders", want: 405},
	{name: "service: no such path", as: "alice", method: "GET", path: "/api/orders/{alice.order}/nothing", want: 404},
	{name: "service: method not allowed", as: "alice", method: "DELETE", path: "/api/users/me", want: 405},
}

// attackFixture is the shop the attacks run against: two customers with an
// order each (alice's confirmed, with its notifications), and the admin.
// Alice also has an order the payment declined ({alice.declined}) and one
// cancelled while the payment-service failed every charge
// ({alice.unpaid}).
type attackFixture struct {
	base   string
	tokens map[string]string
	vars   *strings.Replacer
}

func newAttackFixture(t *testing.T) *attackFixture {
	sh, _ := startShop(t)
	ctx := t.Context()
	fx := &attackFixture{base: sh.GatewayURL(), tokens: map[string]string{}}
	ids := map[string]string{}
	for _, name := range []string{"alice", "bob"} {
		c := &shoptest.Client{Base: fx.base}
		if err := c.SignUpAndLogin(ctx, name+"@example.com", name+"-password"); err != nil {
			t.Fatal(err)
		}
		var me struct {
			ID string `json:"id"`
		}
		if err := c.Expect(ctx, "GET", "/api/users/me", nil, http.StatusOK, &me); err != nil {
			t.Fatal(err)
		}
		item := shoptest.Item{ProductID: "p-keyboard", Quantity: 1}
		if name == "bob" {
			item.ProductID = "p-mouse"
		}
		r, err := c.PlaceOrder(ctx, name+"-order-1", item)
		if err != nil || r.Status != http.StatusCreated {
			t.Fatalf("%s's order: %v %d %s", name, err, r.Status, r.Body)
		}
		fx.tokens[name], ids[name] = c.Token, me.ID
		if name == "alice" {
			waitNotifications(t, c, "alice-order-1", "order.confirmed", "order.created")
			cancelledOrders(t, c)
		}
	}
	fx.tokens["admin"] = adminClient(t, fx.base).Token
	fx.vars = strings.NewReplacer("{alice.order}", "alice-order-1", "{bob.order}", "bob-order-1",
		"{alice.declined}", "alice-declined", "{alice.unpaid}", "alice-unpaid",
		"{alice}", ids["alice"], "{bob}", ids["bob"])
	return fx
}

// cancelledOrders places alice's two cancelled orders: alice-declined, over
// the payment limit, and alice-unpaid, while the administrator has every
// charge fail.
func cancelledOrders(t *testing.T, c *shoptest.Client) {
	ctx := t.Context()
	place := func(id, product string) {
		r, err := c.PlaceOrder(ctx, id, shoptest.Item{ProductID: product, Quantity: 1})
		if err != nil || r.Status != http.StatusCreated || !bytes.Contains(r.Body, []byte(`"status":"cancelled"`)) {
			t.Fatalf("order %s: %v %d %s", id, err, r.Status, r.Body)
		}
		waitNotifications(t, c, id, "order.cancelled", "order.created")
	}
	place("alice-declined", "p-laptop")
	admin := adminClient(t, c.Base)
	faults := func(rate int) {
		if err := admin.Expect(ctx, http.MethodPut, "/api/admin/payment-faults", map[string]int{"error_rate": rate}, http.StatusOK, nil); err != nil {
			t.Fatal(err)
		}
	}
	faults(1)
	place("alice-unpaid", "p-mouse")
	faults(0)
}

// noRedirects is a client that shows the attacks the gateway's answer
// itself: a redirect is an answer too.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// send sends a, returning the status, the X-Request-Id answered and the body.
func (fx *attackFixture) send(t *testing.T, a attack) (int, string, []byte) {
	var body io.Reader
	if a.body != "" {
		body = strings.NewReader(fx.vars.Replace(a.body))
		if a.chunked {
			body = io.MultiReader(body) // no Len: sent chunked
		}
	}
	req, err := http.NewRequestWithContext(t.Context(), a.method, fx.base+fx.vars.Replace(a.path), body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range a.header {
		req.Header[k] = []string{fx.vars.Replace(v)} // as spelled, not canonicalized
	}
	c := &shoptest.Client{Token: fx.tokens[a.as], HTTP: noRedirects}
	resp, err := c.Send(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Status, resp.Header.Get(gateway.RequestIDHeader), resp.Body
}

// TestShopAttacks sends each attack through the gateway of the one-process
// shop and checks the answer: its status, that it leaks nothing, that an
// error has the one JSON error shape whoever made it, and that answers
// meant to be indistinguishable are identical.
func TestShopAttacks(t *testing.T) {
	fx := newAttackFixture(t)
	sameBodies := map[string]string{}
	sameFirst := map[string]string{}
	// checkSame checks that the answer (without its request id) is that of
	// the first attack of its group.
	checkSame := func(t *testing.T, a attack, answer string) {
		t.Helper()
		if prev, ok := sameBodies[a.same]; !ok {
			sameBodies[a.same], sameFirst[a.same] = answer, a.name
		} else if prev != answer {
			t.Errorf("answer %s differs from that of %q: %s; an attacker tells them apart", answer, sameFirst[a.same], prev)
		}
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			status, reqID, body := fx.send(t, a)
			if status != a.want {
				t.Fatalf("%s %s as %q: status %d, want %d: %.300s", a.method, a.path, a.as, status, a.want, body)
			}
			checkNoLeak(t, body)
			for _, s := range a.has {
				if s = fx.vars.Replace(s); !bytes.Contains(body, []byte(s)) {
					t.Errorf("the answer lacks %q: %.300s", s, body)
				}
			}
			for _, s := range a.hasNot {
				if s = fx.vars.Replace(s); bytes.Contains(body, []byte(s)) {
					t.Errorf("the answer contains %q: %.300s", s, body)
				}
			}
			if status < 400 && a.same != "" {
				checkSame(t, a, string(body))
			}
			if status >= 400 {
				e := checkErrorShape(t, status, reqID, body)
				if a.code != "" && e.Code != a.code {
					t.Errorf("code %q, want %q", e.Code, a.code)
				}
				e.RequestID = ""
				norm, _ := json.Marshal(e)
				if a.same != "" {
					checkSame(t, a, string(norm))
				}
			}
		})
	}
}

// checkNoLeak fails t if body carries one of the leaks.
func checkNoLeak(t *testing.T, body []byte) {
	t.Helper()
	for _, l := range leaks {
		if bytes.Contains(body, []byte(l)) {
			t.Errorf("the answer leaks %q: %.300s", l, body)
		}
	}
}

// checkErrorShape checks that body is exactly a gateway.ErrorBody: no other
// member, the HTTP status repeated, a code, a message and the request id
// the response carries.
func checkErrorShape(t *testing.T, status int, reqID string, body []byte) gateway.ErrorDetail {
	t.Helper()
	var eb gateway.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil {
		t.Errorf("the error body is not the gateway's shape (%v): %.300s", err, body)
		return eb.Error
	}
	e := eb.Error
	if e.Status != status || e.Code == "" || e.Message == "" || e.RequestID == "" || e.RequestID != reqID {
		t.Errorf("error %+v for status %d and request id %q: want the status, a code, a message and the request id", e, status, reqID)
	}
	return e
}

// TestServiceRefusalsLeakNothing calls the services' own ports, as the
// saga and the composition do, and checks that their refusals, which the
// order-service classifies and logs, are worded for people too: no Go
// error text, no package prefix, no service name. The steps run in order.
func TestServiceRefusalsLeakNothing(t *testing.T) {
	sh, _ := startShop(t)
	admin := map[string]string{platform.RoleHeader: platform.RoleAdmin}
	steps := []struct {
		name, service, method, path, body string
		header                            map[string]string
		want                              int
		code                              string
	}{
		{"reservation out of stock", shop.Product, "POST", "/reservations",
			`{"key":"k-1","items":[{"product_id":"p-mouse","quantity":2000000}]}`, nil, 409, "out_of_stock"},
		{"release before the reservation", shop.Product, "POST", "/reservations/k-2/release", "", nil, 200, ""},
		{"reservation released first", shop.Product, "POST", "/reservations",
			`{"key":"k-2","items":[{"product_id":"p-mouse","quantity":1}]}`, nil, 409, "released"},
		{"payments down", shop.Payment, "PUT", "/admin/faults", `{"down":true}`, admin, 200, ""},
		{"charge while down", shop.Payment, "POST", "/charges",
			`{"key":"k-3","order_id":"o-3","customer":"u-1","amount_cents":100}`, nil, 503, "down"},
		{"charges failing", shop.Payment, "PUT", "/admin/faults", `{"error_rate":1}`, admin, 200, ""},
		{"charge failing", shop.Payment, "POST", "/charges",
			`{"key":"k-4","order_id":"o-4","customer":"u-1","amount_cents":100}`, nil, 500, "injected"},
		{"charge replies lost, refunds failing", shop.Payment, "PUT", "/admin/faults", `{"lose_charge_replies":true,"fail_refunds":true}`, admin, 200, ""},
		{"charge whose reply is lost", shop.Payment, "POST", "/charges",
			`{"key":"k-6","order_id":"o-6","customer":"u-1","amount_cents":100}`, nil, 504, "reply_lost"},
		{"refund failing", shop.Payment, "POST", "/refunds", `{"key":"k-6"}`, nil, 500, "injected"},
		{"faults off", shop.Payment, "PUT", "/admin/faults", `{}`, admin, 200, ""},
		// Accepted: the decline comes as an event, payment.declined.
		{"charge over the limit", shop.Payment, "POST", "/charges",
			`{"key":"k-5","order_id":"o-5","customer":"u-1","amount_cents":100000000}`, nil, 202, ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var body io.Reader
			if st.body != "" {
				body = strings.NewReader(st.body)
			}
			req, err := http.NewRequestWithContext(t.Context(), st.method, sh.URL(st.service)+st.path, body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range st.header {
				req.Header.Set(k, v)
			}
			resp, err := (&shoptest.Client{}).Send(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != st.want {
				t.Fatalf("status %d, want %d: %s", resp.Status, st.want, resp.Body)
			}
			// "injected" is a code of the payment-service's API, which only
			// its callers inside the shop read; its message is checked.
			checkNoLeak(t, bytes.ReplaceAll(resp.Body, []byte(`"code":"injected"`), nil))
			if st.code != "" {
				if e := checkErrorShape(t, resp.Status, resp.Header.Get(gateway.RequestIDHeader), resp.Body); e.Code != st.code {
					t.Errorf("code %q, want %q", e.Code, st.code)
				}
			}
		})
	}
}

// TestAuthFailuresAreLimited floods the gateway from one address with the
// three kinds of failed authentication, two of each: bad tokens, no token,
// wrong passwords. The six failures of the budget, and the one that finds
// it spent, are answered 401; then that address gets 429 with
// Retry-After, even with a valid token, until the budget refills (one
// failure every ten seconds, far more than the test takes). The steps run
// in order.
func TestAuthFailuresAreLimited(t *testing.T) {
	sh, _ := startShop(t, func(c *shop.Config) { c.AuthFailuresPerMinute = 6 })
	base := sh.GatewayURL()
	valid := &shoptest.Client{Base: base}
	if err := valid.SignUpAndLogin(t.Context(), "ada@example.com", "ada-password"); err != nil {
		t.Fatal(err)
	}
	badToken := &shoptest.Client{Base: base, Token: valid.Token[:len(valid.Token)-4] + "AAAA"}
	anonymous := &shoptest.Client{Base: base}
	wrongLogin := map[string]string{"email": "ada@example.com", "password": "guess-password"}
	steps := []struct {
		name   string
		c      *shoptest.Client
		method string
		path   string
		body   any
		times  int
		want   int
	}{
		{"a valid token spends nothing", valid, "GET", "/api/orders", nil, 40, 200},
		{"bad tokens", badToken, "GET", "/api/orders", nil, 2, 401},
		{"no token", anonymous, "GET", "/api/orders/o-1/details", nil, 2, 401},
		{"wrong passwords", anonymous, "POST", "/api/users/login", wrongLogin, 2, 401},
		{"the failure that finds the budget spent", anonymous, "POST", "/api/users/login", wrongLogin, 1, 401},
		{"the next wrong password", anonymous, "POST", "/api/users/login", wrongLogin, 1, 429},
		{"the next bad token", badToken, "GET", "/api/orders", nil, 1, 429},
		{"a valid token from the same address", valid, "GET", "/api/orders", nil, 1, 429},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			for i := range st.times {
				r, err := st.c.Do(t.Context(), st.method, st.path, st.body)
				if err != nil {
					t.Fatal(err)
				}
				if r.Status != st.want {
					t.Fatalf("request %d: status %d, want %d: %s", i+1, r.Status, st.want, r.Body)
				}
				if r.Status == http.StatusTooManyRequests && r.Header.Get("Retry-After") == "" {
					t.Errorf("429 without Retry-After")
				}
			}
		})
	}
}
