package browsertest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/console"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
)

// With the notification-service refusing every event, an order's two
// events are dead-lettered. The administrator reaches that service's
// console from the aggregated overview, finds the dead letter of the
// order's creation, reads its payload and reason, and, once the fault is
// cleared, replays it, confirming first: the customer is notified of the
// order, and the console lists the dead letter as replayed.
func TestDeadLetterReplayed(t *testing.T) {
	f := newFixture(t)
	const orderID = "dead-letter-1"
	f.setFaults("notification-faults", map[string]any{"reject": true})
	placed, err := f.customer.PlaceOrder(t.Context(), orderID, shoptest.Item{ProductID: "p-mouse", Quantity: 1})
	if err != nil || placed.Status != http.StatusCreated {
		t.Fatalf("order %s: %v %d %s", orderID, err, placed.Status, placed.Body)
	}
	f.waitDeadLetters(f.instance(platform.NotificationService), 2)

	f.signInAdmin()
	if st := f.click(section(platform.NotificationService) + `//td[1]/a`); st != http.StatusOK || f.text("h1") != "Overview" {
		t.Fatalf("the notification-service's console: %d %q on %s", st, f.text("h1"), f.location())
	}
	if st := f.click(`//nav/a[normalize-space()="Dead letters"]`); st != http.StatusOK || f.text("h1") != "Dead letters" {
		t.Fatalf("its dead letters: %d %q on %s", st, f.text("h1"), f.location())
	}
	created := `//table[contains(@class, "deadletters")]//tr[td[2][normalize-space()="order.created"]]`
	if got := f.text(created + `/td[7]`); !strings.Contains(got, "rejected (fault injection)") {
		t.Errorf("the dead letter of order.created gives the reason %q, want the fault", got)
	}
	f.shot("deadletters")
	if st := f.click(created + `/td[1]/a`); st != http.StatusOK || f.text("h1") != "Dead letter" {
		t.Fatalf("the dead letter's page: %d %q on %s", st, f.text("h1"), f.location())
	}
	if got := f.text("pre"); !strings.Contains(got, fmt.Sprintf(`"order_id": %q`, orderID)) {
		t.Fatalf("the dead letter's payload is %q, want order %s's", got, orderID)
	}
	if got := f.text(`//dt[normalize-space()="Reason"]/following-sibling::dd[1]`); !strings.Contains(got, "rejected (fault injection)") {
		t.Errorf("the dead letter's page gives the reason %q, want the fault", got)
	}
	f.shot("deadletter")

	f.setFaults("notification-faults", map[string]any{"reject": false})
	if st := f.click(`//div[@class="actions"]//button[normalize-space()="Replay"]`); st != http.StatusOK || f.text("h1") != "Confirm: Replay dead letter" {
		t.Fatalf("replay: %d %q, want the confirmation page", st, f.text("h1"))
	}
	if got := f.text("form.confirm p"); !strings.Contains(got, "(order.created) again to group") {
		t.Errorf("the confirmation says %q", got)
	}
	if st := f.click("form.confirm button.danger"); st != http.StatusOK {
		t.Fatalf("confirm the replay: %d", st)
	}
	if got := f.text("p.ok"); !strings.HasSuffix(got, "is published again") {
		t.Errorf("after the replay the console says %q", got)
	}
	f.waitNotifications(orderID, "order.created")

	f.click(`//nav/a[normalize-space()="Dead letters"]`)
	if got := f.text(`//table[contains(@class, "deadletters")]/tbody`); strings.Contains(got, "order.created") || !strings.Contains(got, "order.confirmed") {
		t.Errorf("the dead letters waiting after the replay: %q, want order.confirmed's only", got)
	}
	f.tick(`input[name="replayed"]`)
	f.click(`form.filters button[type="submit"]`)
	if got := f.text(created + `/td[6]`); got != "1" {
		t.Errorf("the replayed dead letter shows %s replays, want 1", got)
	}
}

// waitDeadLetters waits until the instance console at link (see
// instance) lists n dead letters waiting.
func (f *fixture) waitDeadLetters(link string, n int) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.t.Context(), 10*time.Second)
	defer cancel()
	err := shoptest.Eventually(ctx, 50*time.Millisecond, func() error {
		var v console.DeadLettersView
		if err := f.admin.Expect(ctx, http.MethodGet, link+"api/deadletters", nil, http.StatusOK, &v); err != nil {
			return err
		}
		if len(v.Entries) != n {
			return fmt.Errorf("%d dead letters, want %d", len(v.Entries), n)
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// waitNotifications waits until the customer's notifications of order
// orderID are of kinds (sorted), no more.
func (f *fixture) waitNotifications(orderID string, kinds ...string) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.t.Context(), 10*time.Second)
	defer cancel()
	if err := f.customer.WaitNotifications(ctx, orderID, kinds...); err != nil {
		f.t.Fatal(err)
	}
}
