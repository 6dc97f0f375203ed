package browsertest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/console"
	"github.com/go-microkit/microkit/examples/shop/internal/gatewaysvc"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/examples/shop/internal/shop"
	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
	"github.com/go-microkit/microkit/gateway"
	"golang.org/x/crypto/bcrypt"
)

// fixture is where every scenario starts: the one-process shop, a browser,
// and API clients of the administrator and of a customer, for what the
// scenario sets up or checks outside the browser. A scenario of another
// console view (sagas, dead letters, ...) opens it with f.open and reads
// it with f.text, after setting the shop up through f.admin and
// f.customer.
type fixture struct {
	*page
	t        *testing.T
	shop     *shop.Shop
	gw       string // the gateway's base URL
	admin    *shoptest.Client
	customer *shoptest.Client
	adminID  string // the administrator's user id, the console's operator name
}

// Customer credentials of the fixture's customer.
const customerEmail, customerPassword = "ada@example.com", "correct horse"

// newFixture starts the shop and the browser for t (skipping t without a
// browser), and signs the administrator and a customer in over the API.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	bin := chromium(t)
	sh, err := shop.Start(t.Context(), shop.Config{
		DataDir:    t.TempDir(),
		Addr:       map[string]string{shop.Gateway: "127.0.0.1:0"},
		Seed:       true,
		BcryptCost: bcrypt.MinCost,
		// An open breaker stays open until an operator resets it.
		BreakerOpen: 10 * time.Minute,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("start the shop: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := sh.Close(ctx); err != nil {
			t.Errorf("close the shop: %v", err)
		}
	})
	f := &fixture{page: newPage(t, bin), t: t, shop: sh, gw: sh.GatewayURL()}
	f.admin = &shoptest.Client{Base: f.gw}
	if err := f.admin.Login(t.Context(), shop.DemoAdmin.Email, shop.DemoAdmin.Password); err != nil {
		t.Fatal(err)
	}
	var me struct {
		ID string `json:"id"`
	}
	if err := f.admin.Expect(t.Context(), http.MethodGet, "/api/users/me", nil, http.StatusOK, &me); err != nil {
		t.Fatal(err)
	}
	f.adminID = me.ID
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

// serviceConsole returns the base URL of service's own console, and has
// the browser send what the gateway forwards for the administrator (the
// admin role and the subject), as a service's console requires: the
// gateway serves only its own console to browsers.
func (f *fixture) serviceConsole(service string) string {
	f.t.Helper()
	f.sendHeaders(map[string]string{platform.RoleHeader: platform.RoleAdmin, gateway.DefaultSubjectHeader: f.adminID})
	return f.shop.URL(service) + platform.ConsolePath
}

// breakers reads the console's breakers document at url (a gateway URL
// under the admin's token, or a service's own with the admin's headers).
func (f *fixture) breakers(url string) console.BreakersView {
	f.t.Helper()
	c := &shoptest.Client{Token: f.admin.Token}
	if !strings.HasPrefix(url, f.gw) {
		c = &shoptest.Client{Header: http.Header{platform.RoleHeader: {platform.RoleAdmin}, gateway.DefaultSubjectHeader: {f.adminID}}}
	}
	var v console.BreakersView
	if err := c.Expect(f.t.Context(), http.MethodGet, url, nil, http.StatusOK, &v); err != nil {
		f.t.Fatal(err)
	}
	return v
}

// breakerState returns the state of the breaker name in the breakers
// document at url, "" when it lists none of that name.
func (f *fixture) breakerState(url, name string) string {
	f.t.Helper()
	for _, b := range f.breakers(url).Breakers {
		if b.Name == name {
			return b.State
		}
	}
	return ""
}

// gatewayBreaker reads a product through the gateway, which makes its
// breaker of the product-service instance, and returns that breaker's
// name.
func (f *fixture) gatewayBreaker() string {
	f.t.Helper()
	if err := f.customer.Expect(f.t.Context(), http.MethodGet, "/api/products", nil, http.StatusOK, nil); err != nil {
		f.t.Fatal(err)
	}
	v := f.breakers(f.gw + gatewaysvc.AdminPath + "api/breakers")
	if len(v.Breakers) == 0 {
		f.t.Fatal("the gateway lists no breaker after a product read")
	}
	return v.Breakers[0].Name
}
