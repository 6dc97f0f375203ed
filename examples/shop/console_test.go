package main

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/console"
	"github.com/go-microkit/microkit/examples/shop/internal/gatewaysvc"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/examples/shop/internal/shop"
	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
	"github.com/go-microkit/microkit/gateway"
)

// The operator's console: every process (the gateway's internal port
// included) serves its own at /console/, to the admin role and subject the
// gateway forwards, and announces it in the registry; the gateway serves
// the aggregate of them all at /admin/, to the admin role only, by bearer
// token or by the cookie its sign-in page sets. Actions refuse
// cross-origin browsers, and the order-service's console, through the
// aggregate, shows the payment breaker open while the payment-service
// fails and closed once an operator resets it.
func TestShopConsole(t *testing.T) {
	sh, _ := startShop(t)
	ctx := t.Context()
	gw := sh.GatewayURL()
	admin := adminClient(t, gw)
	customer := &shoptest.Client{Base: gw}
	if err := customer.SignUpAndLogin(ctx, "ada@example.com", "correct horse"); err != nil {
		t.Fatal(err)
	}
	// A product read makes the gateway's breaker of the product-service.
	product(t, customer, "p-mouse")

	t.Run("only the admin role opens /admin/", func(t *testing.T) {
		forged := &shoptest.Client{Base: gw, Header: http.Header{platform.RoleHeader: {platform.RoleAdmin}, gateway.DefaultSubjectHeader: {"u-ops"}}}
		page := &shoptest.Client{Base: gw, Header: http.Header{"Accept": {"text/html"}}}
		for _, tc := range []struct {
			name   string
			c      *shoptest.Client
			path   string
			status int
		}{
			{"no token", &shoptest.Client{Base: gw}, "/admin/api/", http.StatusUnauthorized},
			{"no token, a page", page, "/admin/breakers", http.StatusUnauthorized},
			{"forged role headers", forged, "/admin/api/", http.StatusUnauthorized},
			{"customer", customer, "/admin/api/", http.StatusForbidden},
			{"customer, a page", customer, "/admin/breakers", http.StatusForbidden},
			{"admin", admin, "/admin/api/", http.StatusOK},
			{"admin, the overview", admin, "/admin/", http.StatusOK},
			{"admin, no trailing slash", admin, "/admin", http.StatusOK},
			{"admin, breakers", admin, "/admin/api/breakers", http.StatusOK},
			{"admin, no such page", admin, "/admin/api/nothing", http.StatusNotFound},
		} {
			r, err := tc.c.Do(ctx, http.MethodGet, tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tc.status {
				t.Errorf("%s: GET %s: %d, want %d: %.300s", tc.name, tc.path, r.Status, tc.status, r.Body)
			}
			if r.Status != http.StatusOK && strings.Contains(tc.path, "/api/") {
				checkNoLeak(t, r.Body)
			}
		}
		var ov console.AggregateOverview
		if err := admin.Expect(ctx, http.MethodGet, "/admin/api/", nil, http.StatusOK, &ov); err != nil {
			t.Fatal(err)
		}
		var services []string
		for _, s := range ov.Services {
			services = append(services, s.Service)
			for _, in := range s.Instances {
				if in.Reach != console.ReachAnswered || in.Console != platform.ConsolePath || in.View == nil || len(in.View.Items) == 0 {
					t.Errorf("%s: %+v, want its console at %s answering", s.Service, in, platform.ConsolePath)
				}
			}
		}
		want := []string{platform.GatewayService, platform.NotificationService, platform.OrderService, platform.PaymentService,
			platform.ProductService, platform.UserService}
		if !slices.Equal(services, want) {
			t.Errorf("the aggregate shows %v, want %v", services, want)
		}
	})

	t.Run("every process serves its console to the admin role only", func(t *testing.T) {
		operator := http.Header{platform.RoleHeader: {platform.RoleAdmin}, gateway.DefaultSubjectHeader: {"u-ops"}}
		for _, svc := range shop.All {
			for _, tc := range []struct {
				name   string
				header http.Header
				status int
			}{
				{"no headers", nil, http.StatusForbidden},
				{"a role without a subject", http.Header{platform.RoleHeader: {platform.RoleAdmin}}, http.StatusForbidden},
				{"a customer", http.Header{gateway.DefaultSubjectHeader: {"u-ada"}}, http.StatusForbidden},
				{"the admin role", operator, http.StatusOK},
			} {
				c := &shoptest.Client{Base: sh.InternalURL(svc), Header: tc.header}
				if r, err := c.Do(ctx, http.MethodGet, platform.ConsolePath+"api/", nil); err != nil || r.Status != tc.status {
					t.Errorf("%s console, %s: %v %d, want %d", svc, tc.name, err, r.Status, tc.status)
				}
			}
		}
	})

	t.Run("actions refuse cross-origin requests", func(t *testing.T) {
		gwConsole := instanceLink(t, admin, platform.GatewayService)
		name := firstBreaker(t, admin, gwConsole+"api/breakers")
		form := url.Values{"name": {name}, "confirm": {"yes"}}
		for _, h := range []http.Header{
			{"Origin": {"http://evil.test"}},
			{"Sec-Fetch-Site": {"cross-site"}},
			{"Sec-Fetch-Site": {"same-site"}}, // another port of the same host
		} {
			r := postForm(t, admin, gwConsole+"actions/breaker-force-open", form, h)
			if r.Status != http.StatusForbidden {
				t.Errorf("cross-origin POST with %v: %d %.300s, want 403", h, r.Status, r.Body)
			}
		}
		if st := breakerState(t, admin, gwConsole+"api/breakers", name); st != "closed" {
			t.Fatalf("breaker %s is %s after refused requests, want closed", name, st)
		}
		if r := postForm(t, admin, gwConsole+"api/actions/breaker-force-open", form, http.Header{"Sec-Fetch-Site": {"same-origin"}}); r.Status != http.StatusOK {
			t.Fatalf("same-origin POST: %d %s", r.Status, r.Body)
		}
		if st := breakerState(t, admin, gwConsole+"api/breakers", name); st != "forced-open" {
			t.Fatalf("breaker %s is %s, want forced-open", name, st)
		}
		if r := postForm(t, admin, gwConsole+"api/actions/breaker-reset", form, nil); r.Status != http.StatusOK {
			t.Fatalf("reset: %d %s", r.Status, r.Body)
		}
	})

	t.Run("sign-in page and session cookie", func(t *testing.T) {
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		browser := &shoptest.Client{Base: gw, HTTP: noRedirect}
		signIn := func(email, password, next string, h http.Header) shoptest.Response {
			return postForm(t, browser, "/admin/login", url.Values{"email": {email}, "password": {password}, "next": {next}}, h)
		}
		if r := signIn(shop.DemoAdmin.Email, "wrong password", "", nil); r.Status != http.StatusUnauthorized || r.Header.Get("Set-Cookie") != "" {
			t.Errorf("wrong password: %d, cookie %q", r.Status, r.Header.Get("Set-Cookie"))
		}
		if r := signIn("ada@example.com", "correct horse", "", nil); r.Status != http.StatusForbidden || r.Header.Get("Set-Cookie") != "" {
			t.Errorf("a customer: %d, cookie %q; want 403 and no cookie", r.Status, r.Header.Get("Set-Cookie"))
		}
		if r := signIn(shop.DemoAdmin.Email, shop.DemoAdmin.Password, "", http.Header{"Origin": {"http://evil.test"}}); r.Status != http.StatusForbidden {
			t.Errorf("cross-origin sign-in: %d, want 403", r.Status)
		}
		for next, want := range map[string]string{
			"/admin/breakers":      "/admin/breakers",
			"":                     "/admin/",
			"//evil.test/admin/":   "/admin/",
			"https://evil.test/":   "/admin/",
			"/admin/../api/orders": "/admin/",
			"/api/orders":          "/admin/",
		} {
			r := signIn(shop.DemoAdmin.Email, shop.DemoAdmin.Password, next, nil)
			if r.Status != http.StatusSeeOther || r.Header.Get("Location") != want {
				t.Errorf("sign in with next %q: %d to %q, want 303 to %q", next, r.Status, r.Header.Get("Location"), want)
			}
		}
		r := signIn(shop.DemoAdmin.Email, shop.DemoAdmin.Password, "", nil)
		cookies := (&http.Response{Header: r.Header}).Cookies()
		if len(cookies) != 1 {
			t.Fatalf("sign-in set %d cookies: %v", len(cookies), r.Header["Set-Cookie"])
		}
		ck := cookies[0]
		if ck.Name != gatewaysvc.SessionCookie || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != gatewaysvc.AdminPath || ck.MaxAge <= 0 {
			t.Fatalf("session cookie %+v, want HttpOnly, SameSite=Strict, Path=%s, with a lifetime", ck, gatewaysvc.AdminPath)
		}
		withCookie := &shoptest.Client{Base: gw, Header: http.Header{"Cookie": {ck.Name + "=" + ck.Value}}}
		if err := withCookie.Expect(ctx, http.MethodGet, "/admin/api/", nil, http.StatusOK, nil); err != nil {
			t.Errorf("the session cookie: %v", err)
		}
		expired := &shoptest.Client{Base: gw, Header: http.Header{"Cookie": {ck.Name + "=not-a-token"}, "Accept": {"text/html"}}}
		if r, err := expired.Do(ctx, http.MethodGet, "/admin/", nil); err != nil || r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), `name="password"`) {
			t.Errorf("a bad session: %v %d, want 401 and the sign-in form", err, r.Status)
		}
		withCookie.HTTP = noRedirect
		out := postForm(t, withCookie, "/admin/logout", url.Values{}, http.Header{"Sec-Fetch-Site": {"same-origin"}})
		if c := (&http.Response{Header: out.Header}).Cookies(); out.Status != http.StatusSeeOther || len(c) != 1 || c[0].Name != gatewaysvc.SessionCookie || c[0].MaxAge >= 0 {
			t.Errorf("sign-out: %d, cookies %v; want the session cookie removed", out.Status, out.Header["Set-Cookie"])
		}
	})

	t.Run("through the aggregate the payment breaker shows open under faults and closed after a reset", func(t *testing.T) {
		orders := &shoptest.Client{Base: gw + strings.TrimSuffix(instanceLink(t, admin, platform.OrderService), "/"), Token: admin.Token}
		if st := breakerState(t, orders, "/api/breakers", "payment-service"); st != "closed" {
			t.Fatalf("payment breaker %s before the faults", st)
		}
		if err := admin.SetPaymentFaults(ctx, 1); err != nil {
			t.Fatal(err)
		}
		// The breaker trips once half of at least 10 calls failed.
		if _, err := customer.PlaceUntilRefused(ctx, 20, shoptest.Item{ProductID: "p-mouse", Quantity: 1}); err != nil {
			t.Fatal(err)
		}
		p := breakers(t, orders, "/api/breakers").Breakers[0] // open ones first
		if p.Name != "payment-service" || p.State != "open" || p.Since.IsZero() || len(p.Transitions) == 0 || p.Transitions[len(p.Transitions)-1].To != "open" {
			t.Fatalf("payment breaker %+v, want open, with its transition", p)
		}
		if err := admin.SetPaymentFaults(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if r := postForm(t, orders, "/api/actions/breaker-reset", url.Values{"name": {"payment-service"}, "confirm": {"yes"}}, nil); r.Status != http.StatusOK {
			t.Fatalf("reset: %d %s", r.Status, r.Body)
		}
		if st := breakerState(t, orders, "/api/breakers", "payment-service"); st != "closed" {
			t.Fatalf("payment breaker %s after the reset, want closed", st)
		}
		r, err := customer.PlaceOrder(ctx, "", shoptest.Item{ProductID: "p-mouse", Quantity: 1})
		var o shoptest.Order
		if err != nil || r.Status != http.StatusCreated || r.Decode(&o) != nil || o.Status != "confirmed" {
			t.Fatalf("order after the reset: %v %d %s, want confirmed", err, r.Status, r.Body)
		}
	})

	// The warehouse ships an hour after a confirmation here: a confirmed
	// order's saga waits for it, parked, and the order-service's console
	// lists it among the waiting sagas with the step it waits in.
	t.Run("the order-service's console lists the sagas waiting for the warehouse", func(t *testing.T) {
		r, err := customer.PlaceOrder(ctx, "waits-for-shipment", shoptest.Item{ProductID: "p-mouse", Quantity: 1})
		var o shoptest.Order
		if err != nil || r.Status != http.StatusCreated || r.Decode(&o) != nil || o.Status != "confirmed" {
			t.Fatalf("order: %v %d %s", err, r.Status, r.Body)
		}
		orders := &shoptest.Client{Base: gw + strings.TrimSuffix(instanceLink(t, admin, platform.OrderService), "/"), Token: admin.Token}
		var list console.SagasView
		if err := orders.Expect(ctx, http.MethodGet, "/api/sagas?status=waiting", nil, http.StatusOK, &list); err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(list.Sagas, func(s console.SagaSummary) bool {
			return s.ID == o.ID && s.Status == "waiting" && s.Step == "await-shipment"
		}) {
			t.Fatalf("waiting sagas %+v, want %s waiting in await-shipment", list.Sagas, o.ID)
		}
	})
}

// postForm posts form to path with the extra headers h and returns the
// answer.
func postForm(t *testing.T, c *shoptest.Client, path string, form url.Values, h http.Header) shoptest.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, c.Base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range h {
		req.Header[k] = v
	}
	r, err := c.Send(req)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// breakers reads the console's breakers document at path.
func breakers(t *testing.T, c *shoptest.Client, path string) console.BreakersView {
	t.Helper()
	var v console.BreakersView
	if err := c.Expect(t.Context(), http.MethodGet, path, nil, http.StatusOK, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// breakerState returns the state of the breaker name in the console's
// breakers document at path, "" when it has none of that name.
func breakerState(t *testing.T, c *shoptest.Client, path, name string) string {
	t.Helper()
	for _, b := range breakers(t, c, path).Breakers {
		if b.Name == name {
			return b.State
		}
	}
	return ""
}

// instanceLink returns the aggregate's path to the console of the (first)
// instance of service, from the aggregated overview.
func instanceLink(t *testing.T, admin *shoptest.Client, service string) string {
	t.Helper()
	var ov console.AggregateOverview
	if err := admin.Expect(t.Context(), http.MethodGet, "/admin/api/", nil, http.StatusOK, &ov); err != nil {
		t.Fatal(err)
	}
	for _, s := range ov.Services {
		if s.Service == service && len(s.Instances) > 0 {
			return s.Instances[0].Link
		}
	}
	t.Fatalf("the aggregate shows no instance of %s", service)
	return ""
}

// firstBreaker returns the name of the first breaker in the console's
// breakers document at path.
func firstBreaker(t *testing.T, c *shoptest.Client, path string) string {
	t.Helper()
	v := breakers(t, c, path)
	if len(v.Breakers) == 0 {
		t.Fatalf("%s lists no breaker", path)
	}
	return v.Breakers[0].Name
}
