package browsertest

import (
	"context"
	"net/http"
	"testing"

	"github.com/go-microkit/microkit/console"
	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/examples/shop/internal/gatewaysvc"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/examples/shop/internal/shop"
	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
)

// fixture is where every scenario starts: the one-process shop on a
// registry of the test's, a browser, and API clients of the administrator
// and of a customer, for what the scenario sets up or checks outside the
// browser. A scenario of another console view (sagas, dead letters, ...)
// opens it under /admin/ with f.open and reads it with f.text, after
// setting the shop up through f.admin and f.customer.
type fixture struct {
	*tab
	t        *testing.T
	shop     *shop.Shop
	gw       string // the gateway's base URL
	admin    *shoptest.Client
	customer *shoptest.Client
	registry *discovery.Memory // the shop's service registry
}

// Customer credentials of the fixture's customer.
const customerEmail, customerPassword = "ada@example.com", "correct horse"

// newFixture starts the shop and the browser for t (skipping t without a
// browser), and signs the administrator and a customer in over the API.
// Each of configure changes the shop's configuration before it starts.
func newFixture(t *testing.T, configure ...func(*shop.Config)) *fixture {
	t.Helper()
	bin := chromium(t)
	reg, err := discovery.NewMemory()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	// The shop's registry is the test's, to register an instance that
	// does not answer.
	sh := shoptest.Start(t, append([]func(*shop.Config){func(cfg *shop.Config) { cfg.Registry = reg }}, configure...)...)
	f := &fixture{tab: newTab(t, bin), t: t, shop: sh, gw: sh.GatewayURL(), registry: reg}
	f.admin = &shoptest.Client{Base: f.gw}
	if err := f.admin.Login(t.Context(), shop.DemoAdmin.Email, shop.DemoAdmin.Password); err != nil {
		t.Fatal(err)
	}
	f.customer = &shoptest.Client{Base: f.gw}
	if err := f.customer.SignUpAndLogin(t.Context(), customerEmail, customerPassword); err != nil {
		t.Fatal(err)
	}
	return f
}

// signIn signs in on the gateway's sign-in page, as a person would, and
// returns the status of the page it leads to.
func (f *fixture) signIn(email, password string) int64 {
	f.t.Helper()
	f.fill("#email", email)
	f.fill("#password", password)
	return f.click(`button[type="submit"]`)
}

// signInAdmin opens the console, is shown the sign-in form, and signs in
// as the administrator: then the console's overview shows.
func (f *fixture) signInAdmin() {
	f.t.Helper()
	if st := f.open(f.gw + gatewaysvc.AdminPath); st != http.StatusUnauthorized {
		f.t.Fatalf("the console without a session: %d, want 401 and the sign-in form", st)
	}
	if st := f.signIn(shop.DemoAdmin.Email, shop.DemoAdmin.Password); st != http.StatusOK {
		f.t.Fatalf("sign in as the administrator: %d on %s", st, f.location())
	}
	if h := f.text("h1"); h != "Overview" {
		f.t.Fatalf("after signing in the page is %q (%s), want the overview", h, f.location())
	}
}

// instance returns the aggregate's path to the console of the (first)
// instance of service, e.g. "/admin/instances/order-service-127.0.0.1-4242/".
func (f *fixture) instance(service string) string {
	f.t.Helper()
	var ov console.AggregateOverview
	if err := f.admin.Expect(f.t.Context(), http.MethodGet, gatewaysvc.AdminPath+"api/", nil, http.StatusOK, &ov); err != nil {
		f.t.Fatal(err)
	}
	for _, s := range ov.Services {
		if s.Service == service && len(s.Instances) > 0 {
			return s.Instances[0].Link
		}
	}
	f.t.Fatalf("the aggregated console shows no instance of %s", service)
	return ""
}

// setFaults sets the fault switches of the gateway's /api/admin/<name>
// (payment-faults, notification-faults) as the administrator: every
// field at once, those left out off.
func (f *fixture) setFaults(name string, faults map[string]any) {
	f.t.Helper()
	if err := f.admin.Expect(f.t.Context(), http.MethodPut, "/api/admin/"+name, faults, http.StatusOK, nil); err != nil {
		f.t.Fatalf("set %s %v: %v", name, faults, err)
	}
}

// breakers reads the breakers of the instance console at link (see
// instance) through the gateway, as the administrator.
func (f *fixture) breakers(link string) console.BreakersView {
	f.t.Helper()
	var v console.BreakersView
	if err := f.admin.Expect(f.t.Context(), http.MethodGet, link+"api/breakers", nil, http.StatusOK, &v); err != nil {
		f.t.Fatal(err)
	}
	return v
}

// breakerState returns the state of the breaker name on the instance
// console at link, "" when it shows none of that name.
func (f *fixture) breakerState(link, name string) string {
	f.t.Helper()
	for _, b := range f.breakers(link).Breakers {
		if b.Name == name {
			return b.State
		}
	}
	return ""
}

// gatewayBreaker reads a product through the gateway, which makes its
// breaker of the product-service instance, and returns the gateway's
// console (see instance) and that breaker's name.
func (f *fixture) gatewayBreaker() (link, name string) {
	f.t.Helper()
	if err := f.customer.Expect(f.t.Context(), http.MethodGet, "/api/products", nil, http.StatusOK, nil); err != nil {
		f.t.Fatal(err)
	}
	link = f.instance(platform.GatewayService)
	v := f.breakers(link)
	if len(v.Breakers) == 0 {
		f.t.Fatal("the gateway lists no breaker after a product read")
	}
	return link, v.Breakers[0].Name
}
