package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/console"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/examples/shop/internal/shop"
	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
	"github.com/go-microkit/microkit/gateway"
)

// The operator's repairs on the one-process shop: notifications
// dead-lettered under the notification fault are replayed from the
// notification-service's console and delivered once it is cleared, and a
// saga whose refund fails ends compensation_failed until the operator
// retries its compensation.
func TestShopOperatorRepairs(t *testing.T) {
	dir := t.TempDir()
	sh, _ := startShop(t, func(cfg *shop.Config) {
		cfg.DataDir = dir
		cfg.CompensateFor = time.Second
	})
	orders, err := platform.OpenDB(t.Context(), filepath.Join(dir, shop.Order+".db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { orders.Close() })
	r := repairs{
		admin:    adminClient(t, sh.GatewayURL()),
		customer: &shoptest.Client{Base: sh.GatewayURL()},
		orders:   orders.SQL(),
	}
	if err := r.customer.SignUpAndLogin(t.Context(), "ada@example.com", "correct horse"); err != nil {
		t.Fatal(err)
	}
	t.Run("dead-lettered notifications are replayed once the fault is cleared", func(t *testing.T) {
		r.deadLetters(t, "dead-letters-1")
	})
	t.Run("a failed compensation waits for the operator's retry", func(t *testing.T) {
		r.failedCompensation(t, "refund-fails-1")
	})
}

// The same repairs on the shop run one process per service, on
// PostgreSQL, NATS and Consul.
func TestShopClusterOperatorRepairs(t *testing.T) {
	c := newCluster(t, clusterConfig{extra: map[string][]string{shop.Order: {"-compensate-for", "1s"}}})
	c.startAll(1)
	customer := &shoptest.Client{Base: c.gateway}
	warmUp(t, customer) // until the gateway finds the services
	r := repairs{
		admin:    adminClient(t, c.gateway),
		customer: customer,
		services: c.run + "-",
		orders:   c.db(shop.Order),
	}
	t.Run("dead-lettered notifications are replayed once the fault is cleared", func(t *testing.T) {
		r.deadLetters(t, "dead-letters-1")
	})
	t.Run("a failed compensation waits for the operator's retry", func(t *testing.T) {
		r.failedCompensation(t, "refund-fails-1")
	})
}

// repairs are the operator's stories, on a shop in one process or many.
type repairs struct {
	admin, customer *shoptest.Client
	// services is the prefix of the service names in the registry.
	services string
	// orders is the order-service's database, where its sagas are.
	orders *sql.DB
}

// console returns a client of the console of the first instance of
// service (a platform service name), as the operator reaches it: through
// the gateway's aggregate, /admin/instances/<id>/, as the administrator.
func (r repairs) console(t *testing.T, service string) *shoptest.Client {
	t.Helper()
	link := instanceLink(t, r.admin, r.services+service)
	return &shoptest.Client{Base: r.admin.Base + strings.TrimSuffix(link, "/"), Token: r.admin.Token}
}

// deadLetters: with the notification-service rejecting every event, an
// order's events are dead-lettered at once, parked in the service's
// store and listed by its console, and no notification is stored. Once
// the fault is cleared, replaying them from the console delivers them:
// the inbox marked none of them, since a failed delivery's mark rolls
// back with it.
func (r repairs) deadLetters(t *testing.T, orderID string) {
	ctx := t.Context()
	notif := r.console(t, platform.NotificationService)
	setFaults(t, r.admin, "notification-faults", map[string]any{"reject": true})
	placed, err := r.customer.PlaceOrder(ctx, orderID, shoptest.Item{ProductID: "p-mouse", Quantity: 1})
	if err != nil || placed.Status != http.StatusCreated {
		t.Fatalf("order: %v %d %s", err, placed.Status, placed.Body)
	}
	var parked []console.DeadLetterView
	err = shoptest.Eventually(waitCtx(t), 50*time.Millisecond, func() error {
		parked = deadLettersOf(t, notif, orderID, false)
		if len(parked) != 2 {
			return fmt.Errorf("%d dead letters of order %s, want 2", len(parked), orderID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range parked {
		kinds = append(kinds, e.OriginalType)
		if !strings.HasSuffix(e.Group, platform.NotificationService) || e.Attempts != 1 || !strings.Contains(e.Reason, "rejected (fault injection)") {
			t.Errorf("dead letter %+v, want the notification group's, parked on its first attempt, with the fault as its reason", e.DeadLetterSummary)
		}
	}
	slices.Sort(kinds)
	if want := []string{"order.confirmed", "order.created"}; !slices.Equal(kinds, want) {
		t.Fatalf("dead letters of %v, want %v", kinds, want)
	}
	// Parked means handled and failed: nothing was stored, nor will be.
	var ns []shoptest.Notification
	if err := r.customer.Expect(ctx, http.MethodGet, "/api/notifications?order_id="+orderID, nil, http.StatusOK, &ns); err != nil || len(ns) != 0 {
		t.Fatalf("notifications of a rejected order: %+v, %v; want none", ns, err)
	}

	setFaults(t, r.admin, "notification-faults", map[string]any{"reject": false})
	for _, e := range parked {
		res := postForm(t, notif, "/api/actions/deadletter-replay", url.Values{"id": {e.ID}, "confirm": {"yes"}}, nil)
		var done console.ActionResult
		if res.Status != http.StatusOK || res.Decode(&done) != nil || done.Done != 1 {
			t.Fatalf("replay %s: %d %s", e.ID, res.Status, res.Body)
		}
	}
	waitNotifications(t, r.customer, orderID, "order.confirmed", "order.created")
	if left := deadLettersOf(t, notif, orderID, false); len(left) != 0 {
		t.Errorf("%d dead letters of %s still wait after their replay", len(left), orderID)
	}
	for _, e := range deadLettersOf(t, notif, orderID, true) {
		if e.Replays != 1 {
			t.Errorf("dead letter %s shows %d replays, want 1", e.ID, e.Replays)
		}
	}
}

// deadLettersOf returns the dead letters of the events of order orderID
// that the console at notif lists, with those already replayed when
// replayed is true.
func deadLettersOf(t *testing.T, notif *shoptest.Client, orderID string, replayed bool) []console.DeadLetterView {
	t.Helper()
	path := "/api/deadletters?limit=200"
	if replayed {
		path += "&replayed=1"
	}
	var list console.DeadLettersView
	if err := notif.Expect(t.Context(), http.MethodGet, path, nil, http.StatusOK, &list); err != nil {
		t.Fatal(err)
	}
	var out []console.DeadLetterView
	for _, s := range list.Entries {
		var e console.DeadLetterView
		if err := notif.Expect(t.Context(), http.MethodGet, "/api/deadletters/"+url.PathEscape(s.ID), nil, http.StatusOK, &e); err != nil {
			t.Fatal(err)
		}
		var event struct {
			OrderID string `json:"order_id"`
		}
		if err := json.Unmarshal([]byte(e.Data), &event); err != nil {
			t.Fatalf("dead letter %s: %v", e.ID, err)
		}
		if event.OrderID == orderID {
			out = append(out, e)
		}
	}
	return out
}

// failedCompensation: the payment-service makes the charge but loses its
// reply, so the saga compensates with a refund, which fails until its
// retries run out: the saga ends compensation_failed with the order
// pending, the customer charged and the stock reserved.
// Once the faults are cleared, the operator's retry refunds the charge,
// releases the stock and cancels the order.
func (r repairs) failedCompensation(t *testing.T, orderID string) {
	ctx := t.Context()
	item := shoptest.Item{ProductID: "p-keyboard", Quantity: 1}
	stock := product(t, r.customer, item.ProductID).Stock
	setFaults(t, r.admin, "payment-faults", map[string]any{"lose_charge_replies": true, "fail_refunds": true})
	placed, err := r.customer.PlaceOrder(ctx, orderID, item)
	if err != nil {
		t.Fatal(err)
	}
	// The saga could neither finish nor undo the order: the customer is
	// told it failed, without the detail.
	if placed.Status != http.StatusInternalServerError || placed.ErrorCode() != gateway.CodeInternal {
		t.Fatalf("order whose compensation failed: %d %s, want 500 %s", placed.Status, placed.Body, gateway.CodeInternal)
	}
	r.expectOrder(t, orderID, "compensation_failed", "pending", "charged", stock-1)
	setFaults(t, r.admin, "payment-faults", map[string]any{})
	// The operator finds the saga on the order-service's console, reads
	// its timeline, and retries its compensation from there.
	orders := r.console(t, platform.OrderService)
	var failed console.SagasView
	if err := orders.Expect(ctx, http.MethodGet, "/api/sagas?status=compensation_failed&q="+url.QueryEscape(orderID), nil, http.StatusOK, &failed); err != nil {
		t.Fatal(err)
	}
	if len(failed.Sagas) != 1 || failed.Sagas[0].ID != orderID || failed.Sagas[0].Step != "charge-payment" {
		t.Fatalf("failed sagas named %s: %+v, want its saga, failed compensating charge-payment", orderID, failed.Sagas)
	}
	var one console.SagaView
	if err := orders.Expect(ctx, http.MethodGet, "/api/sagas/"+url.PathEscape(orderID), nil, http.StatusOK, &one); err != nil {
		t.Fatal(err)
	}
	if last := one.Timeline[len(one.Timeline)-1]; !one.CanRetry || last.Step != "charge-payment" || last.Kind != "compensate" || last.Outcome != "compensation_failed" {
		t.Fatalf("saga %s: can retry %v, timeline %+v; want its failed compensation of the charge last", orderID, one.CanRetry, one.Timeline)
	}
	res := postForm(t, orders, "/api/actions/saga-retry", url.Values{"id": {orderID}, "confirm": {"yes"}}, nil)
	var done console.ActionResult
	if res.Status != http.StatusOK || res.Decode(&done) != nil || done.Done != 1 {
		t.Fatalf("retry the compensation of %s: %d %s", orderID, res.Status, res.Body)
	}
	r.expectOrder(t, orderID, "compensated", "cancelled", "refunded", stock)
	waitNotifications(t, r.customer, orderID, "order.cancelled", "order.created")
}

// expectOrder checks the saga of order id, the order, its one charge and
// the stock of its product.
func (r repairs) expectOrder(t *testing.T, id, saga, status, charge string, stock int64) {
	t.Helper()
	ctx := t.Context()
	var got string
	if err := r.orders.QueryRowContext(ctx, `SELECT status FROM microkit_sagas WHERE id = $1`, id).Scan(&got); err != nil || got != saga {
		t.Fatalf("saga of %s: %q, %v; want %s", id, got, err, saga)
	}
	var d details
	if err := r.customer.Expect(ctx, http.MethodGet, "/api/orders/"+id+"/details", nil, http.StatusOK, &d); err != nil {
		t.Fatal(err)
	}
	if d.Data.Order.Status != status || len(d.Data.Payments) != 1 || d.Data.Payments[0].Status != charge {
		t.Fatalf("order %s: %s with payments %+v; want %s, one charge %s", id, d.Data.Order.Status, d.Data.Payments, status, charge)
	}
	if got := product(t, r.customer, d.Data.Order.Items[0].ProductID).Stock; got != stock {
		t.Fatalf("stock of %s: %d, want %d", d.Data.Order.Items[0].ProductID, got, stock)
	}
}

// setFaults sets the faults of the gateway's /api/admin/<name> as the
// administrator.
func setFaults(t *testing.T, admin *shoptest.Client, name string, faults map[string]any) {
	t.Helper()
	if err := admin.Expect(t.Context(), http.MethodPut, "/api/admin/"+name, faults, http.StatusOK, nil); err != nil {
		t.Fatalf("set %s %v: %v", name, faults, err)
	}
}
