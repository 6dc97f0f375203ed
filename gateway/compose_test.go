package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/gateway"
)

func value[T any](v T) func(context.Context) (T, error) {
	return func(context.Context) (T, error) { return v, nil }
}

func failing[T any](err error) func(context.Context) (T, error) {
	return func(context.Context) (T, error) {
		var zero T
		return zero, err
	}
}

// blocked returns only when its context is done.
func blocked[T any](ctx context.Context) (T, error) {
	<-ctx.Done()
	var zero T
	return zero, ctx.Err()
}

// inMemory returns a client whose requests h serves in this process, so
// that compositions over HTTP run in a synctest bubble, on its clock.
func inMemory(h http.Handler) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if err := r.Context().Err(); err != nil {
			return nil, err
		}
		return w.Result(), nil
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// view is what the parts of TestCompose fill in.
type view struct{ A, B, C string }

func TestCompose(t *testing.T) {
	boom := errors.New("boom")
	errBuild := errors.New("build failed")
	var late int // parts started after the composition failed
	tests := []struct {
		name     string
		timeout  time.Duration
		build    func(c *gateway.Composition, v *view) error
		err      error
		failPart string
		data     view
		failed   []gateway.PartFailure
	}{
		{name: "all succeed", build: func(c *gateway.Composition, v *view) error {
			gateway.Fetch(c, gateway.Part{Name: "a", Required: true}, &v.A, value("a"))
			gateway.Fetch(c, gateway.Part{Name: "b"}, &v.B, value("b"))
			return nil
		}, data: view{A: "a", B: "b"}},
		{name: "a running part starts another", build: func(c *gateway.Composition, v *view) error {
			gateway.Fetch(c, gateway.Part{Name: "a", Required: true}, &v.A, func(context.Context) (string, error) {
				gateway.Fetch(c, gateway.Part{Name: "b"}, &v.B, func(context.Context) (string, error) {
					time.Sleep(time.Second) // still running when a returns
					return "b", nil
				})
				return "a", nil
			})
			return nil
		}, data: view{A: "a", B: "b"}},
		{name: "optional times out", build: func(c *gateway.Composition, v *view) error {
			gateway.Fetch(c, gateway.Part{Name: "a", Required: true}, &v.A, value("a"))
			gateway.Fetch(c, gateway.Part{Name: "b", Timeout: time.Second}, &v.B, blocked[string])
			return nil
		}, data: view{A: "a"}, failed: []gateway.PartFailure{{Part: "b", Reason: "timeout"}}},
		{name: "a late result is a timeout", build: func(c *gateway.Composition, v *view) error {
			gateway.Fetch(c, gateway.Part{Name: "b", Timeout: time.Second}, &v.B, func(context.Context) (string, error) {
				time.Sleep(2 * time.Second) // ignores its context
				return "b", nil
			})
			return nil
		}, data: view{}, failed: []gateway.PartFailure{{Part: "b", Reason: "timeout"}}},
		{name: "optional parts fail, listed by name", build: func(c *gateway.Composition, v *view) error {
			gateway.Fetch(c, gateway.Part{Name: "a", Required: true}, &v.A, value("a"))
			gateway.Fetch(c, gateway.Part{Name: "c"}, &v.C, failing[string](boom))
			gateway.Fetch(c, gateway.Part{Name: "b"}, &v.B, failing[string](boom))
			return nil
		}, data: view{A: "a"}, failed: []gateway.PartFailure{{Part: "b", Reason: "error"}, {Part: "c", Reason: "error"}}},
		{name: "a required part fails, the others are canceled", build: func(c *gateway.Composition, v *view) error {
			gateway.Fetch(c, gateway.Part{Name: "slow"}, &v.B, blocked[string])
			gateway.Fetch(c, gateway.Part{Name: "a", Required: true}, &v.A, failing[string](boom))
			return nil
		}, err: boom, failPart: "a"},
		{name: "the deadline hits a required part", timeout: time.Second, build: func(c *gateway.Composition, v *view) error {
			gateway.Fetch(c, gateway.Part{Name: "a", Required: true}, &v.A, blocked[string])
			return nil
		}, err: context.DeadlineExceeded, failPart: "a"},
		{name: "nothing starts after a required part failed", build: func(c *gateway.Composition, v *view) error {
			gateway.Fetch(c, gateway.Part{Name: "a", Required: true}, &v.A, failing[string](boom))
			_ = c.Wait() // ignored: the build goes on regardless
			gateway.Fetch(c, gateway.Part{Name: "b"}, &v.B, func(context.Context) (string, error) { late++; return "b", nil })
			return nil
		}, err: boom, failPart: "a"},
		{name: "build fails, its parts are canceled", build: func(c *gateway.Composition, v *view) error {
			gateway.Fetch(c, gateway.Part{Name: "b"}, &v.B, blocked[string])
			return errBuild
		}, err: errBuild},
		{name: "a part without a name", build: func(c *gateway.Composition, v *view) error {
			gateway.Fetch(c, gateway.Part{}, &v.A, value("a"))
			return nil
		}, err: gateway.ErrInvalidOption},
		{name: "a part without a destination", build: func(c *gateway.Composition, v *view) error {
			gateway.Fetch(c, gateway.Part{Name: "a"}, nil, value("a"))
			return nil
		}, err: gateway.ErrInvalidOption},
		{name: "a negative part timeout", build: func(c *gateway.Composition, v *view) error {
			gateway.Fetch(c, gateway.Part{Name: "a", Timeout: -1}, &v.A, value("a"))
			return nil
		}, err: gateway.ErrInvalidOption},
		{name: "a negative timeout", timeout: -1, build: func(*gateway.Composition, *view) error { return nil }, err: gateway.ErrInvalidOption},
		{name: "no build", err: gateway.ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, err := gateway.Compose(t.Context(), tt.timeout, tt.build)
				if tt.err != nil {
					if !errors.Is(err, tt.err) || c != nil {
						t.Fatalf("got %+v, %v, want error %v", c, err, tt.err)
					}
					var pe *gateway.PartError
					if tt.failPart != "" && (!errors.As(err, &pe) || pe.Part != tt.failPart || !errors.Is(err, gateway.ErrRequiredPart)) {
						t.Fatalf("error %v, want a PartError for %s", err, tt.failPart)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if c.Data != tt.data || c.Partial != (len(tt.failed) > 0) || !slices.Equal(c.Failed, tt.failed) {
					t.Fatalf("got %+v, want data %+v failed %v", c, tt.data, tt.failed)
				}
			})
		})
	}
	if late != 0 {
		t.Fatalf("%d parts ran after a required part failed", late)
	}
}

// fanOut serves the order, user and product services of orderDetails in
// process: answers by path, "hang" for an upstream that never answers,
// and a count of the requests each path got.
type fanOut struct {
	mu      sync.Mutex
	answers map[string]string
	calls   map[string]int
}

func (f *fanOut) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls[r.URL.Path]++
	body, ok := f.answers[r.URL.Path]
	f.mu.Unlock()
	switch {
	case !ok:
		http.NotFound(w, r)
	case body == "hang":
		<-r.Context().Done()
	case body == "500":
		http.Error(w, "broken", http.StatusInternalServerError)
	default:
		_, _ = w.Write([]byte(body))
	}
}

// TestComposeDependentFanOut: the order first, then its user and products
// in parallel; a product that fails or times out leaves the view partial,
// and an order that is missing starts nothing else.
func TestComposeDependentFanOut(t *testing.T) {
	const order = `{"id":"o1","user_id":"u1","items":[{"product_id":"p1","quantity":1},{"product_id":"p2","quantity":1},{"product_id":"p3","quantity":1}]}`
	services := func(p2, user string) map[string]string {
		return map[string]string{"/orders/o1": order, "/users/u1": user, "/products/p1": `{"id":"p1"}`,
			"/products/p2": p2, "/products/p3": `{"id":"p3"}`}
	}
	tests := []struct {
		name     string
		id       string
		answers  map[string]string
		status   int
		failed   []gateway.PartFailure
		products []string // the ids fetched, "" for null
		calls    int      // requests the upstreams got; -1: any (canceled parts may not have sent theirs)
	}{
		{"complete", "o1", services(`{"id":"p2"}`, `{"id":"u1"}`), 200, nil, []string{"p1", "p2", "p3"}, 5},
		{"a product fails", "o1", services("500", `{"id":"u1"}`), 200,
			[]gateway.PartFailure{{Part: "product p2", Reason: "error"}}, []string{"p1", "", "p3"}, 5},
		{"a product times out", "o1", services("hang", `{"id":"u1"}`), 200,
			[]gateway.PartFailure{{Part: "product p2", Reason: "timeout"}}, []string{"p1", "", "p3"}, 5},
		{"the order is missing", "o9", services(`{"id":"p2"}`, `{"id":"u1"}`), 404, nil, nil, 1},
		{"the user fails", "o1", services(`{"id":"p2"}`, "500"), 502, nil, nil, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				up := &fanOut{answers: tt.answers, calls: map[string]int{}}
				c, err := gateway.Compose(t.Context(), time.Minute, orderDetails(inMemory(up), "http://orders", "http://users", "http://products", tt.id))
				if status, _, _ := gateway.ComposeStatus(t.Context(), err); err != nil && status != tt.status {
					t.Fatalf("error %v: status %d, want %d", err, status, tt.status)
				}
				total := 0
				for _, n := range up.calls {
					total += n
				}
				if tt.calls >= 0 && total != tt.calls {
					t.Fatalf("upstream calls %v, want %d in all", up.calls, tt.calls)
				}
				if tt.status != 200 {
					if err == nil {
						t.Fatalf("got %+v, want status %d", c, tt.status)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, p := range c.Data.Products {
					if p == nil {
						got = append(got, "")
					} else {
						got = append(got, p.ID)
					}
				}
				if c.Data.Order.ID != "o1" || c.Data.User.ID != "u1" || !slices.Equal(got, tt.products) ||
					c.Partial != (tt.failed != nil) || !slices.Equal(c.Failed, tt.failed) {
					t.Fatalf("got %+v, products %v", c, got)
				}
			})
		})
	}
}

// rawParts is the view of TestComposeHandler: each part's JSON as it came.
type rawParts struct {
	Order    json.RawMessage `json:"order"`
	Products json.RawMessage `json:"products,omitempty"`
}

func TestComposeHandler(t *testing.T) {
	// Each upstream answers status with a body, or hangs (status 0).
	type upstream struct {
		status int
		body   string
	}
	ok := func(body string) upstream { return upstream{200, body} }
	hung := upstream{}
	status := func(code int) upstream { return upstream{code, `{"error":{}}`} }
	const long, short = time.Minute, time.Second
	tests := []struct {
		name               string
		optional, required upstream
		overall, optTime   time.Duration
		status             int
		code               string
		partial            string
	}{
		{"complete", ok(`["p1"]`), ok(`{"id":"o1"}`), long, long, 200, "", ""},
		{"optional hangs", hung, ok(`{"id":"o1"}`), long, short, 200, "", "products"},
		{"optional not found", status(404), ok(`{"id":"o1"}`), long, long, 200, "", "products"},
		{"required not found", ok(`["p1"]`), status(404), long, long, 404, gateway.CodeNotFound, ""},
		{"required gone", ok(`["p1"]`), status(410), long, long, 410, gateway.CodeGone, ""},
		{"required unauthorized", ok(`["p1"]`), status(401), long, long, 401, gateway.CodeUnauthorized, ""},
		{"required forbidden", ok(`["p1"]`), status(403), long, long, 403, gateway.CodeForbidden, ""},
		{"required bad request is the gateway's", ok(`["p1"]`), status(400), long, long, 502, gateway.CodeBadGateway, ""},
		{"required conflict", ok(`["p1"]`), status(409), long, long, 502, gateway.CodeBadGateway, ""},
		{"required broken", ok(`["p1"]`), status(500), long, long, 502, gateway.CodeBadGateway, ""},
		{"required not JSON", ok(`<html>`), ok(`<html>`), long, long, 502, gateway.CodeBadGateway, ""},
		{"required unavailable", ok(`["p1"]`), status(503), long, long, 503, gateway.CodeUpstreamUnavailable, ""},
		{"required hangs", ok(`["p1"]`), hung, short, long, 504, gateway.CodeUpstreamTimeout, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				client := inMemory(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					u := tt.optional
					if r.URL.Path == "/order" {
						u = tt.required
					}
					if u.status == 0 {
						<-r.Context().Done()
						return
					}
					w.WriteHeader(u.status)
					_, _ = w.Write([]byte(u.body))
				}))
				h := gateway.ComposeHandler(tt.overall, func(r *http.Request, c *gateway.Composition, v *rawParts) error {
					gateway.Fetch(c, gateway.Part{Name: "order", Required: true}, &v.Order, gateway.GetJSON[json.RawMessage](client, "http://x/order", nil))
					gateway.Fetch(c, gateway.Part{Name: "products", Timeout: tt.optTime}, &v.Products, gateway.GetJSON[json.RawMessage](client, "http://x/products", nil))
					return nil
				})
				w := serve(h, httptest.NewRequest("GET", "/", nil))
				if w.Code != tt.status {
					t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
				}
				if w.Header().Get("X-Composite-Partial") != tt.partial {
					t.Fatalf("partial header %q", w.Header().Get("X-Composite-Partial"))
				}
				if tt.status != 200 {
					if e := decodeError(t, w.Body.Bytes()); e.Status != tt.status || e.Code != tt.code {
						t.Fatalf("error %+v, want status %d code %q", e, tt.status, tt.code)
					}
					return
				}
				var c struct {
					Data    map[string]json.RawMessage
					Partial bool
					Failed  []gateway.PartFailure
				}
				if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil || string(c.Data["order"]) != `{"id":"o1"}` ||
					c.Partial != (tt.partial != "") || len(c.Failed) != len(strings.Fields(tt.partial)) {
					t.Fatalf("body %s (%v)", w.Body, err)
				}
			})
		})
	}
}

// TestComposeOnARoute: a composition served as a gateway route's Handler
// runs behind the route's middleware and within its Timeout, and answers
// a required part's 404 as 404.
func TestComposeOnARoute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &fanOut{answers: map[string]string{"/orders/o1": `{"id":"o1","user_id":"u1"}`, "/users/u1": "hang"}, calls: map[string]int{}}
		var authorized int
		auth := func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				authorized++
				next.ServeHTTP(w, r)
			})
		}
		details := gateway.ComposeHandler(0, func(r *http.Request, c *gateway.Composition, d *OrderDetails) error {
			return orderDetails(inMemory(up), "http://orders", "http://users", "http://products", r.PathValue("id"))(c, d)
		})
		g, err := gateway.New([]gateway.Route{{Name: "details", Path: "/api/orders/{id}/details", Handler: details,
			Middleware: []gateway.Middleware{auth}, Timeout: 3 * time.Second}}, gateway.WithMiddleware(gateway.RequestID()))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		w := serve(g, httptest.NewRequest("GET", "/api/orders/o1/details", nil))
		if e := decodeError(t, w.Body.Bytes()); w.Code != 504 || e.Code != gateway.CodeUpstreamTimeout || e.RequestID == "" {
			t.Fatalf("a hung user: %d %s", w.Code, w.Body)
		}
		if waited := time.Since(start); waited != 3*time.Second {
			t.Fatalf("answered after %v, want the route's 3s", waited)
		}
		w = serve(g, httptest.NewRequest("GET", "/api/orders/o9/details", nil))
		if e := decodeError(t, w.Body.Bytes()); w.Code != 404 || e.Code != gateway.CodeNotFound || authorized != 2 {
			t.Fatalf("a missing order: %d %s (%d authorized)", w.Code, w.Body, authorized)
		}
	})
}

// Errors that carry no upstream status: no upstream to ask is 503, a
// transport failure 502, a client that went away 499, and a cancelled
// request is never blamed on a part.
func TestComposeStatus(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	refused := &url.Error{Op: "Get", URL: "http://x", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}
	tests := []struct {
		name   string
		ctx    context.Context
		err    error
		status int
		code   string
	}{
		{"no upstream", context.Background(), gateway.ErrNoUpstream, 503, gateway.CodeUpstreamUnavailable},
		{"breaker open", context.Background(), gateway.ErrUpstreamUnavailable, 503, gateway.CodeUpstreamUnavailable},
		{"refused", context.Background(), refused, 502, gateway.CodeBadGateway},
		{"deadline", context.Background(), context.DeadlineExceeded, 504, gateway.CodeUpstreamTimeout},
		{"client gone", cancelled, context.Canceled, gateway.StatusClientClosedRequest, gateway.CodeClientClosed},
		{"bad parts", context.Background(), gateway.ErrInvalidOption, 500, gateway.CodeInternal},
		{"not found wrapped", context.Background(), &gateway.PartError{Part: "order", Err: &gateway.UpstreamStatusError{StatusCode: 404}}, 404, gateway.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code, msg := gateway.ComposeStatus(tt.ctx, tt.err)
			if status != tt.status || code != tt.code || msg == "" {
				t.Fatalf("got %d %q %q, want %d %q", status, code, msg, tt.status, tt.code)
			}
		})
	}
}
