package browsertest

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/console"
	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/examples/shop/internal/gatewaysvc"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/examples/shop/internal/shop"
	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
)

// The administrator opens /admin/, is asked to sign in, signs in and sees
// the overview of every instance's console; the session is a cookie no
// script can read and no other site's page sends. The gateway's own
// console opens from there.
func TestAdminSignsInAndSeesTheOverview(t *testing.T) {
	f := newFixture(t)
	f.gatewayBreaker()
	if st := f.open(f.gw + gatewaysvc.AdminPath); st != http.StatusUnauthorized {
		t.Fatalf("the console without a session: %d, want 401", st)
	}
	f.fill("#email", shop.DemoAdmin.Email)
	f.shot("signin")
	f.signInAdmin()
	f.shot("overview")
	for _, svc := range []string{platform.GatewayService, platform.OrderService, platform.PaymentService} {
		if got := f.text(section(svc) + `//span[contains(@class, "state")]`); got != string(console.ReachAnswered) {
			t.Errorf("the overview shows %s's console %q, want answered", svc, got)
		}
	}
	var session bool
	for _, c := range f.cookies(f.gw + gatewaysvc.AdminPath) {
		if c.Name == gatewaysvc.SessionCookie {
			session = true
			if !c.HTTPOnly || c.SameSite != "Strict" || c.Path != gatewaysvc.AdminPath {
				t.Errorf("session cookie %+v, want HttpOnly, SameSite=Strict, Path=%s", c, gatewaysvc.AdminPath)
			}
		}
	}
	if !session {
		t.Fatal("signing in left no session cookie")
	}
	if st := f.click(section(platform.GatewayService) + `//td/a`); st != http.StatusOK || f.text("h1") != "Overview" {
		t.Fatalf("the gateway's console: %d %q on %s", st, f.text("h1"), f.location())
	}
	if st := f.click(`//nav/a[normalize-space()="Discovery"]`); st != http.StatusOK || f.text("h1") != "Discovery" {
		t.Fatalf("the gateway's discovery page: %d %q", st, f.text("h1"))
	}
	if got := f.text("main"); !strings.Contains(got, platform.ProductService) {
		t.Errorf("the gateway's discovery page does not show the product-service: %q", got)
	}
	f.shot("discovery")
}

// The payment-service fails every charge: the order-service's payment
// breaker shows open on the aggregated breakers page and on the
// order-service's console. Once the faults are off, the operator resets
// it there, confirming on the page the console asks first, and it shows
// closed; orders are confirmed again.
func TestPaymentBreakerOpenAndReset(t *testing.T) {
	f := newFixture(t)
	f.signInAdmin()
	orders := f.instance(platform.OrderService)
	row := section(platform.OrderService) + `//tr[td[1][normalize-space()="payment-service"]]`
	f.open(f.gw + gatewaysvc.AdminPath + "breakers")
	if st := f.text(row + `//span[contains(@class, "state")]`); st != "closed" {
		t.Fatalf("the payment breaker shows %q before the faults, want closed", st)
	}
	if err := f.admin.SetPaymentFaults(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	// The breaker trips once half of at least 10 calls failed.
	if _, err := f.customer.PlaceUntilRefused(t.Context(), 20, shoptest.Item{ProductID: "p-mouse", Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	f.open(f.gw + gatewaysvc.AdminPath + "breakers")
	if st := f.text(row + `//span[contains(@class, "state")]`); st != "open" {
		t.Fatalf("the aggregated breakers page shows the payment breaker %q under faults, want open", st)
	}
	own := `//tr[td[1][normalize-space()="payment-service"]]`
	if st := f.open(f.gw + orders + "breakers"); st != http.StatusOK || f.text(own+`//span[contains(@class, "state")]`) != "open" {
		t.Fatalf("the order-service's breakers page: %d, payment breaker %q, want open", st, f.text(own+`//span[contains(@class, "state")]`))
	}
	f.shot("breaker-open")
	if err := f.admin.SetPaymentFaults(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if st := f.click(own + `//button[normalize-space()="Reset"]`); st != http.StatusOK {
		t.Fatalf("reset: %d", st)
	}
	if h := f.text("h1"); h != "Confirm: Reset breaker" {
		t.Fatalf("the reset asked for no confirmation: page %q", h)
	}
	if got := f.text("form.confirm p"); !strings.Contains(got, "close breaker payment-service (now open)") {
		t.Errorf("the confirmation says %q", got)
	}
	if st := f.breakerState(orders, "payment-service"); st != "open" {
		t.Fatalf("the breaker is %s before the confirmation, want open", st)
	}
	f.shot("confirm-reset")
	if st := f.click("form.confirm button.danger"); st != http.StatusOK {
		t.Fatalf("confirm: %d", st)
	}
	if got := f.text("p.ok"); got != "breaker payment-service is closed" {
		t.Errorf("after the reset the console says %q", got)
	}
	f.open(f.gw + gatewaysvc.AdminPath + "breakers")
	if st := f.text(row + `//span[contains(@class, "state")]`); st != "closed" {
		t.Fatalf("the payment breaker shows %q after the reset, want closed", st)
	}
	r, err := f.customer.PlaceOrder(t.Context(), "", shoptest.Item{ProductID: "p-mouse", Quantity: 1})
	var o shoptest.Order
	if err != nil || r.Status != http.StatusCreated || r.Decode(&o) != nil || o.Status != "confirmed" {
		t.Fatalf("order after the reset: %v %d %s, want confirmed", err, r.Status, r.Body)
	}
}

// An instance that died without deregistering (killed: the registry has
// not yet noticed) shows on the overview as not answering, beside the
// instance of the same service that answers.
func TestKilledInstanceShowsUnanswered(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // the process is gone: nothing listens on its port any more
	dead := fmt.Sprintf("%s-127.0.0.1-%d", platform.PaymentService, port)
	if err := f.registry.Register(context.Background(), discovery.Instance{ID: dead, Service: platform.PaymentService,
		Address: "127.0.0.1", Port: port, Meta: map[string]string{console.MetaKey: platform.ConsolePath}}); err != nil {
		t.Fatal(err)
	}
	f.signInAdmin()
	payments := section(platform.PaymentService)
	if got := f.text(payments + "/h2"); !strings.Contains(got, "2 instances") {
		t.Errorf("the payment-service's heading reads %q, want 2 instances", got)
	}
	deadRow := payments + fmt.Sprintf(`//tr[td[1][normalize-space()=%q]]`, dead)
	if got := f.text(deadRow + `//span[contains(@class, "state")]`); got != string(console.ReachFailed) {
		t.Errorf("the killed instance shows %q, want %s", got, console.ReachFailed)
	}
	if got := f.text(payments + `//tr[not(td[1][normalize-space()=` + fmt.Sprintf("%q", dead) + `])]//span[contains(@class, "state")]`); got != string(console.ReachAnswered) {
		t.Errorf("the live payment instance shows %q, want %s", got, console.ReachAnswered)
	}
	f.shotOf("instance-down", payments)
}

// A customer is not an operator: the sign-in page refuses them and sets no
// cookie, and a customer's token in the session cookie opens nothing.
func TestCustomerIsRefused(t *testing.T) {
	f := newFixture(t)
	f.open(f.gw + gatewaysvc.AdminPath + "login")
	if st := f.signIn(customerEmail, customerPassword); st != http.StatusForbidden {
		t.Fatalf("a customer signing in: %d, want 403", st)
	}
	if got := f.text(".error"); got != "This account is not an administrator." {
		t.Errorf("the sign-in page says %q", got)
	}
	for _, c := range f.cookies(f.gw + gatewaysvc.AdminPath) {
		if c.Name == gatewaysvc.SessionCookie {
			t.Fatalf("a customer got the session cookie %+v", c)
		}
	}
	f.setCookie(f.gw, gatewaysvc.AdminPath, gatewaysvc.SessionCookie, f.customer.Token)
	for _, path := range []string{"", "breakers", "api/"} {
		if st := f.open(f.gw + gatewaysvc.AdminPath + path); st != http.StatusForbidden {
			t.Errorf("a customer's session on %s%s: %d, want 403", gatewaysvc.AdminPath, path, st)
		}
	}
}

// A page of another origin, in the browser of a signed-in administrator,
// posts a console action to the gateway: from another port of the same
// host (same site: the browser sends the cookie) the gateway refuses it
// as cross-origin; from another site the browser does not even send the
// cookie. Either way the breaker stays as it was.
func TestCrossOriginPostIsRefused(t *testing.T) {
	f := newFixture(t)
	link, name := f.gatewayBreaker()
	f.signInAdmin()
	action := f.gw + link + "actions/breaker-force-open"
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s">
<input type="hidden" name="name" value="%s"><input type="hidden" name="confirm" value="yes">
<button id="go" type="submit">Win a prize</button></form>`, html.EscapeString(action), html.EscapeString(name))
	}))
	t.Cleanup(evil.Close)
	for _, tc := range []struct {
		name, origin string
		status       int64
	}{
		{"same site, another origin", evil.URL, http.StatusForbidden},
		{"another site", strings.Replace(evil.URL, "127.0.0.1", "localhost", 1), http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if st := f.open(tc.origin); st != http.StatusOK {
				t.Fatalf("the other page: %d", st)
			}
			if st := f.click("#go"); st != tc.status {
				t.Errorf("the cross-origin POST: %d, want %d", st, tc.status)
			}
			if st := f.breakerState(link, name); st != "closed" {
				t.Fatalf("breaker %s is %s after the cross-origin POST, want closed", name, st)
			}
		})
	}
}

// section is the XPath of the aggregated page's section of service.
func section(service string) string {
	return fmt.Sprintf(`//section[h2[starts-with(normalize-space(), %q)]]`, service)
}
