package browsertest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/examples/shop/internal/shop"
	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
	"github.com/go-microkit/microkit/gateway"
)

// The payment-service charges but loses its replies, and fails every
// refund: a customer's order saga compensates, cannot refund, and ends
// compensation_failed. The administrator finds it on the order-service's
// console among the sagas of that status, reads on its timeline which
// compensation failed, and, once the payment-service is fixed, retries
// the compensation, confirming first: the saga is compensated, the order
// cancelled, the charge refunded and the stock released.
func TestSagaCompensationRetried(t *testing.T) {
	f := newFixture(t, func(cfg *shop.Config) { cfg.CompensateFor = time.Second })
	const orderID = "refund-fails-1"
	item := shoptest.Item{ProductID: "p-keyboard", Quantity: 1}
	stock := f.stock(item.ProductID)
	f.setFaults("payment-faults", map[string]any{"lose_charge_replies": true, "fail_refunds": true})
	placed, err := f.customer.PlaceOrder(t.Context(), orderID, item)
	if err != nil || placed.Status != http.StatusInternalServerError || placed.ErrorCode() != gateway.CodeInternal {
		t.Fatalf("order %s whose refund fails: %v %d %s, want 500 %s", orderID, err, placed.Status, placed.Body, gateway.CodeInternal)
	}
	f.expectOrder(orderID, "pending", "charged", stock-1)

	f.signInAdmin()
	if st := f.click(section(platform.OrderService) + `//td[1]/a`); st != http.StatusOK || f.text("h1") != "Overview" {
		t.Fatalf("the order-service's console: %d %q on %s", st, f.text("h1"), f.location())
	}
	if st := f.click(`//nav/a[normalize-space()="Sagas"]`); st != http.StatusOK || f.text("h1") != "Sagas" {
		t.Fatalf("its sagas: %d %q on %s", st, f.text("h1"), f.location())
	}
	f.fill(`select[name="status"]`, "compensation_failed")
	if st := f.click(`form.filters button[type="submit"]`); st != http.StatusOK {
		t.Fatalf("filter the sagas: %d", st)
	}
	rows := `//table[contains(@class, "sagas")]/tbody/tr`
	if got := f.text(rows + `[1]/td[1]`); got != orderID || f.count(rows) != 1 {
		t.Fatalf("the sagas whose compensation failed: %q, want %s's only", f.text(`//table[contains(@class, "sagas")]/tbody`), orderID)
	}
	f.shot("sagas")
	if st := f.click(rows + `[1]/td[1]/a`); st != http.StatusOK || f.text("h1") != "Saga" {
		t.Fatalf("the saga's page: %d %q on %s", st, f.text("h1"), f.location())
	}
	if got := f.sagaField("Status"); got != "compensation_failed" {
		t.Fatalf("the saga's page shows status %q, want compensation_failed", got)
	}
	refund := `//ol[contains(@class, "timeline")]/li[strong[normalize-space()="charge-payment"] and contains(., "compensate:")]`
	if got := f.text(refund + `/span[contains(@class, "state")]`); got != "compensation_failed" {
		t.Errorf("the timeline shows the refund %q, want compensation_failed", got)
	}
	f.shot("saga-failed")

	f.setFaults("payment-faults", map[string]any{})
	if st := f.click(`//div[@class="actions"]//button[normalize-space()="Retry compensation"]`); st != http.StatusOK || f.text("h1") != "Confirm: Retry compensation" {
		t.Fatalf("retry: %d %q, want the confirmation page", st, f.text("h1"))
	}
	if got := f.text("form.confirm p"); !strings.Contains(got, "compensate saga "+orderID) {
		t.Errorf("the confirmation says %q", got)
	}
	if st := f.click("form.confirm button.danger"); st != http.StatusOK {
		t.Fatalf("confirm the retry: %d on %s: %q", st, f.location(), f.text("main"))
	}
	if got := f.text("p.ok"); got != "saga "+orderID+" is compensated" {
		t.Errorf("after the retry the console says %q", got)
	}

	f.click(`//nav/a[normalize-space()="Sagas"]`)
	f.click(`//table[contains(@class, "sagas")]//tr[td[1][normalize-space()="` + orderID + `"]]/td[1]/a`)
	if got := f.sagaField("Status"); got != "compensated" {
		t.Fatalf("after the retry the saga's page shows status %q, want compensated", got)
	}
	if got := f.text(refund + `/span[contains(@class, "state")]`); got != "compensated" {
		t.Errorf("after the retry the timeline shows the refund %q, want compensated", got)
	}
	f.shot("saga-compensated")
	f.expectOrder(orderID, "cancelled", "refunded", stock)
}

// sagaField returns the value of the field name of the saga's page.
func (f *fixture) sagaField(name string) string {
	f.t.Helper()
	return f.text(`//dl[contains(@class, "record")]/dt[normalize-space()="` + name + `"]/following-sibling::dd[1]`)
}

// stock returns the stock of product id, as the API shows it.
func (f *fixture) stock(id string) int64 {
	f.t.Helper()
	var p shoptest.Product
	if err := f.customer.Expect(f.t.Context(), http.MethodGet, "/api/products/"+id, nil, http.StatusOK, &p); err != nil {
		f.t.Fatal(err)
	}
	return p.Stock
}

// expectOrder checks, through the customer's API, the status of order id,
// that it has one charge, of status charge, and the stock of its product.
func (f *fixture) expectOrder(id, status, charge string, stock int64) {
	f.t.Helper()
	var d struct {
		Data struct {
			Order    shoptest.Order `json:"order"`
			Payments []struct {
				Status string `json:"status"`
			} `json:"payments"`
		} `json:"data"`
	}
	if err := f.customer.Expect(f.t.Context(), http.MethodGet, "/api/orders/"+id+"/details", nil, http.StatusOK, &d); err != nil {
		f.t.Fatal(err)
	}
	if d.Data.Order.Status != status || len(d.Data.Payments) != 1 || d.Data.Payments[0].Status != charge {
		f.t.Fatalf("order %s: %s with payments %+v; want %s, one charge %s", id, d.Data.Order.Status, d.Data.Payments, status, charge)
	}
	if got := f.stock(d.Data.Order.Items[0].ProductID); got != stock {
		f.t.Fatalf("stock of %s: %d, want %d", d.Data.Order.Items[0].ProductID, got, stock)
	}
}
