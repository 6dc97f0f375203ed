package console_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/console"
	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/gateway"
)

// host is an instance on a real HTTP server: h mounted at path. It
// counts every request for a path that is not plainly below that one,
// which the aggregate must never send, before any mux cleans it.
type host struct {
	srv     *httptest.Server
	escaped atomic.Int32
}

func serveInstance(t *testing.T, path string, h http.Handler) *host {
	t.Helper()
	ho := &host{}
	mux := http.NewServeMux()
	mux.Handle(path, h)
	ho.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if !strings.HasPrefix(p, path) || strings.Contains(p, "..") || strings.Contains(p, "//") || strings.Contains(p, `\`) {
			ho.escaped.Add(1)
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(ho.srv.Close)
	return ho
}

// instance returns the registry entry of the instance id of service on
// this host, announcing its console at consolePath.
func (ho *host) instance(id, service, consolePath string) discovery.Instance {
	addr := ho.srv.Listener.Addr().(*net.TCPAddr)
	return instance(id, service, addr.IP.String(), addr.Port, consolePath)
}

// An operator behind the aggregate opens one instance's pages through it,
// with every link of the page leading back through the aggregate, and
// nothing else: no instance the registry does not list with a console,
// nothing above the instance's console path.
func TestAggregateProxiesPages(t *testing.T) {
	orders, _ := instanceConsole(t, "/console/", []string{"stock"}, []string{"payments"})
	payments, _ := instanceConsole(t, "/ops/", nil, []string{"bank"})
	o, p := serveInstance(t, "/console/", orders), serveInstance(t, "/ops/", payments)
	reg := registry(t, o.instance("orders-1", "orders", "/console/"), p.instance("payments-1", "payments", "/ops/"),
		p.instance("mailer-1", "mailer", ""))
	ada := client{t, newAggregate(t, reg), "ada"}

	w := ada.do(http.MethodGet, "/fleet/instances/orders-1/breakers", nil)
	page := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(page, "<td>payments</td>") || strings.Contains(page, "<td>bank</td>") {
		t.Fatalf("orders-1's breakers: %d %s", w.Code, page)
	}
	for _, want := range []string{`href="/fleet/instances/orders-1/assets/console.css"`, `href="/fleet/instances/orders-1/discovery"`,
		`action="/fleet/instances/orders-1/actions/breaker-reset"`, "aggregate for ada"} {
		if !strings.Contains(page, want) {
			t.Errorf("orders-1's page lacks %q", want)
		}
	}
	if strings.Contains(page, `="/console/`) {
		t.Error("orders-1's page has a link that leaves the aggregate")
	}
	if w.Header().Get("Content-Security-Policy") == "" || w.Header().Get("X-Frame-Options") != "DENY" {
		t.Errorf("a proxied page without the console's headers: %v", w.Header())
	}

	var bv console.BreakersView
	ada.json("/fleet/instances/payments-1/api/breakers", &bv)
	if len(bv.Breakers) != 1 || bv.Breakers[0].Name != "bank" {
		t.Fatalf("payments-1's breakers: %+v", bv)
	}
	if w := ada.do(http.MethodGet, "/fleet/instances/payments-1/assets/console.css", nil); w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/css") {
		t.Fatalf("payments-1's style sheet: %d %v", w.Code, w.Header())
	}

	for _, path := range []string{
		"/fleet/instances/nobody/",
		"/fleet/instances/mailer-1/", // listed, but announces no console
		"/fleet/instances/orders-1/%2e%2e/%2e%2e/secret",
		"/fleet/instances/orders-1/..%2f..%2fsecret",
		"/fleet/instances/orders-1/x%5c..%5c..%5csecret",
		"/fleet/instances/orders-1/.%2e/secret",
		"/fleet/instances/orders-1/a//b",
		"/fleet/instances/orders-1/http:%2f%2fevil.test%2f",
	} {
		w := ada.do(http.MethodGet, path, nil)
		if w.Code == http.StatusOK {
			t.Errorf("GET %s: 200 %s", path, w.Body)
		}
		if loc := w.Header().Get("Location"); loc != "" && !strings.HasPrefix(loc, "/fleet/") {
			t.Errorf("GET %s: redirected to %s", path, loc)
		}
	}
	if w := ada.do(http.MethodGet, "/fleet/instances/nobody/api/", nil); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"not_found"`) {
		t.Errorf("an unknown instance's document: %d %s, want the JSON 404", w.Code, w.Body)
	}
	if n := o.escaped.Load() + p.escaped.Load(); n != 0 {
		t.Fatalf("%d requests reached an instance outside its console", n)
	}
}

// An action posted through the aggregate passes the aggregate's
// authorization, cross-origin protection and read-only check, then the
// instance's console confirms it, runs it and audits it with the
// operator the aggregate passes on; it reaches that instance only.
func TestAggregateProxiesActions(t *testing.T) {
	// The instance's console logs an action before it answers, and the
	// test reads the log after the answer.
	var audit captured
	orders, ob := instanceConsole(t, "/console/", nil, []string{"payments"}, console.WithLogger(audit.logger()))
	payments, pb := instanceConsole(t, "/console/", nil, []string{"payments"}, console.WithLogger(slog.New(slog.DiscardHandler)))
	o, p := serveInstance(t, "/console/", orders), serveInstance(t, "/console/", payments)
	reg := registry(t, o.instance("orders-1", "orders", "/console/"), p.instance("payments-1", "payments", "/console/"))
	a := newAggregate(t, reg)
	ada := client{t, a, "ada"}
	form := url.Values{"name": {"payments"}}
	open := func() bool {
		return ob["payments"].State() == breaker.ForcedOpen && pb["payments"].State() == breaker.ForcedOpen
	}

	w := ada.do(http.MethodPost, "/fleet/instances/orders-1/actions/breaker-reset", form)
	if w.Code != http.StatusOK || !open() ||
		!strings.Contains(w.Body.String(), `action="/fleet/instances/orders-1/actions/breaker-reset"`) ||
		!strings.Contains(w.Body.String(), `name="confirm" value="yes"`) {
		t.Fatalf("unconfirmed: %d, breakers open %v, page %s", w.Code, open(), w.Body)
	}
	confirmed := url.Values{"name": {"payments"}, "confirm": {"yes"}}
	for _, tc := range []struct {
		name     string
		operator string
		path     string
		header   []string
		status   int
	}{
		{"cross-site", "ada", "/fleet/instances/orders-1/actions/breaker-reset", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"foreign origin", "ada", "/fleet/instances/orders-1/api/actions/breaker-reset", []string{"Origin", "https://evil.test"}, http.StatusForbidden},
		{"read-only operator", "bob-ro", "/fleet/instances/orders-1/api/actions/breaker-reset", nil, http.StatusForbidden},
		{"unauthenticated", "", "/fleet/instances/orders-1/api/actions/breaker-reset", nil, http.StatusUnauthorized},
		{"not an operator", "mallory", "/fleet/instances/orders-1/actions/breaker-reset", nil, http.StatusForbidden},
		{"not an action", "ada", "/fleet/instances/orders-1/breakers", nil, http.StatusMethodNotAllowed},
		{"unknown instance", "ada", "/fleet/instances/nobody/api/actions/breaker-reset", nil, http.StatusNotFound},
		{"unknown action", "ada", "/fleet/instances/orders-1/api/actions/no-such-action", nil, http.StatusNotFound},
	} {
		if w := (client{t, a, tc.operator}).do(http.MethodPost, tc.path, confirmed, tc.header...); w.Code != tc.status || !open() {
			t.Errorf("%s: %d, breakers open %v; want %d and nothing done", tc.name, w.Code, open(), tc.status)
		}
	}
	if w := ada.do(http.MethodGet, "/fleet/instances/orders-1/actions/breaker-reset?name=payments&confirm=yes", nil); w.Code != http.StatusNotFound || !open() {
		t.Fatalf("GET an action: %d, breakers open %v", w.Code, open())
	}

	w = ada.do(http.MethodPost, "/fleet/instances/orders-1/actions/breaker-reset", confirmed, "Sec-Fetch-Site", "same-origin")
	if w.Code != http.StatusOK || ob["payments"].State() != breaker.Closed || pb["payments"].State() != breaker.ForcedOpen {
		t.Fatalf("confirmed: %d, orders-1's breaker %v, payments-1's %v", w.Code, ob["payments"].State(), pb["payments"].State())
	}
	if !strings.Contains(w.Body.String(), `href="/fleet/instances/orders-1/"`) {
		t.Errorf("the done page does not lead back through the aggregate: %s", w.Body)
	}
	if log := audit.String(); !strings.Contains(log, `"operator":"aggregate for ada"`) || !strings.Contains(log, `"action":"breaker-reset"`) {
		t.Fatalf("orders-1's audit log: %s", log)
	}
	var res console.ActionResult
	w = ada.do(http.MethodPost, "/fleet/instances/payments-1/api/actions/breaker-reset", confirmed)
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &res) != nil || res.Done != 1 || pb["payments"].State() != breaker.Closed {
		t.Fatalf("through the API: %d %s", w.Code, w.Body)
	}

	ro := newAggregate(t, reg, console.WithConsoleOptions(console.WithReadOnly()))
	ob["payments"].ForceOpen(t.Context())
	if w := (client{t, ro, "ada"}).do(http.MethodPost, "/fleet/instances/orders-1/api/actions/breaker-reset", confirmed); w.Code != http.StatusForbidden || ob["payments"].State() != breaker.ForcedOpen {
		t.Fatalf("read-only aggregate: %d, breaker %v", w.Code, ob["payments"].State())
	}
	if page := (client{t, ro, "ada"}).do(http.MethodGet, "/fleet/breakers", nil).Body.String(); strings.Contains(page, "<form") || !strings.Contains(page, "read-only") {
		t.Fatal("the read-only aggregate's breakers page offers an action")
	}
}

// Every way an instance's console can fail the aggregate is shown with
// that instance, the healthy one beside it; its own pages through the
// aggregate answer what it answered, or a gateway error.
func TestAggregateMarksFailingInstances(t *testing.T) {
	healthy, _ := instanceConsole(t, "/console/", []string{"stock"}, nil)
	h := serveInstance(t, "/console/", healthy)
	elsewhere := serveInstance(t, "/elsewhere/", http.NotFoundHandler())
	deny := func(err error) http.Handler {
		c, e := console.New(func(*http.Request) (console.Operator, error) { return console.Operator{}, err })
		if e != nil {
			t.Fatal(e)
		}
		return c
	}
	down := serveInstance(t, "/console/", healthy)
	down.srv.Close()
	for _, tc := range []struct {
		name        string
		handler     http.Handler // nil: the down server
		consolePath string
		reach       console.Reach
		status      int
		errorHas    string
		proxied     int
	}{
		{"refuses the aggregate", deny(console.ErrUnauthenticated), "/console/", console.ReachRefused, 401, "sign in", 401},
		{"forbids the aggregate", deny(errors.New("not you")), "/console/", console.ReachRefused, 403, "not open to you", 403},
		{"answers 500", broken, "/console/", console.ReachFailed, 500, "database down", 500},
		{"answers a page", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<p>hello</p>"))
		}), "/console/", console.ReachFailed, 200, "no console's JSON", 200},
		{"answers too much", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"items":[],"padding":"` + strings.Repeat("x", 4096) + `"}`))
		}), "/console/", console.ReachFailed, 200, "longer than 2048 bytes", 502},
		{"redirects", http.RedirectHandler(elsewhere.srv.URL+"/elsewhere/", http.StatusFound), "/console/", console.ReachFailed, 302, "302", 502},
		{"is down", nil, "/console/", console.ReachFailed, 0, "refused", 502},
		{"announces a relative path", healthy, "console/", console.ReachFailed, 0, "announces", 502},
		{"announces a path above its console", healthy, "/console/../", console.ReachFailed, 0, "announces", 502},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := down
			if tc.handler != nil {
				bad = serveInstance(t, "/", tc.handler)
			}
			reg := registry(t, h.instance("orders-1", "orders", "/console/"), bad.instance("orders-2", "orders", tc.consolePath))
			ada := client{t, newAggregate(t, reg, console.WithMaxResponseBytes(2048)), "ada"}
			var ov console.AggregateOverview
			ada.json("/fleet/api/", &ov)
			if len(ov.Services) != 1 || len(ov.Services[0].Instances) != 2 || ov.Unanswered != 1 {
				t.Fatalf("overview: %+v", ov)
			}
			good, failed := ov.Services[0].Instances[0], ov.Services[0].Instances[1]
			if good.Reach != console.ReachAnswered || good.View == nil {
				t.Errorf("the healthy instance: %+v", good)
			}
			if failed.Reach != tc.reach || failed.Status != tc.status || !strings.Contains(failed.Error, tc.errorHas) || failed.View != nil {
				t.Errorf("orders-2: %+v, want %s, status %d, error with %q", failed, tc.reach, tc.status, tc.errorHas)
			}
			if w := ada.do(http.MethodGet, "/fleet/instances/orders-2/api/", nil); w.Code != tc.proxied {
				t.Errorf("orders-2's overview through the aggregate: %d, want %d", w.Code, tc.proxied)
			} else if tc.proxied == http.StatusBadGateway {
				var body gateway.ErrorBody
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != gateway.CodeBadGateway {
					t.Errorf("orders-2's overview through the aggregate: %s, want the JSON error", w.Body)
				}
			}
			if n := elsewhere.escaped.Load(); n != 0 {
				t.Fatalf("the aggregate followed a redirect %d times", n)
			}
		})
	}
}
