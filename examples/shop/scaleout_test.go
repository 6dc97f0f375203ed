package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/examples/shop/internal/shop"
	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
)

// The shop scaled out: two instances of every service behind discovery and
// the gateway, on a three-node JetStream cluster keeping the stream three
// times, and PostgreSQL. In the middle of a burst of orders one NATS node,
// one order-service and one payment-service are SIGKILLed and not
// restarted. Every order still ends confirmed or cancelled, every effect
// agrees with its outcome, and every event made exactly one notification.
func TestShopScaleOut(t *testing.T) {
	nc := startNATSCluster(t, 3)
	replicas := []string{"-stream-replicas", "3"}
	c := newCluster(t, clusterConfig{natsURL: nc.URL(),
		extra: map[string][]string{shop.Order: replicas, shop.Notification: replicas}})
	c.startAll(2)
	ctx := t.Context()
	user := &shoptest.Client{Base: c.gateway, HTTP: &http.Client{Timeout: 40 * time.Second}}
	warmUp(t, user)

	before := c.stockOf(ctx)
	orders := newBurst("scale", 720)
	deadline, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var killed sync.Once
	var faultAt time.Time
	faultDone := make(chan struct{})
	start := time.Now()
	placeAll(deadline, t, user, orders, 16, func(answered int) {
		if answered < len(orders)/4 {
			return
		}
		killed.Do(func() {
			// In the background: the workers keep ordering meanwhile.
			go func() {
				defer close(faultDone)
				faultAt = time.Now()
				nc.kill(0)
				c.kill(shop.Order)
				c.kill(shop.Payment)
				t.Logf("SIGKILLed NATS node n1, order-service and payment-service (one instance each) after %d of %d orders were answered",
					answered, len(orders))
			}()
		})
	})
	select {
	case <-faultDone:
	case <-deadline.Done():
		t.Fatal("the burst ended before the fault was injected")
	}
	if t.Failed() {
		t.FailNow()
	}
	end := lastAnswer(orders)
	during := faultAt.Add(2 * time.Second)
	t.Logf("orders/s answered: before the fault %.1f, in the 2 s after it %.1f, after that %.1f (%d orders in %v); second by second from the fault: %v",
		ordersPerSecond(orders, start, faultAt), ordersPerSecond(orders, faultAt, during),
		ordersPerSecond(orders, during, end), len(orders), end.Sub(start).Round(time.Millisecond),
		perSecond(orders, faultAt, end))
	c.checkSettled(orders, before)
}

// warmUp waits until the shop confirms an order: every route answers once
// every check passed and the gateway's watches saw it. A 201 is not enough:
// the order-service cancels an order while the payment-service is not yet
// discoverable, so it waits for a confirmed one, a fresh order id each try.
func warmUp(t *testing.T, user *shoptest.Client) {
	t.Helper()
	ctx := t.Context()
	if err := shoptest.Eventually(waitCtx(t), 200*time.Millisecond, func() error {
		return user.SignUpAndLogin(ctx, "ada@example.com", "correct horse")
	}); err != nil {
		t.Fatal(err)
	}
	if err := shoptest.Eventually(waitCtx(t), 200*time.Millisecond, func() error {
		r, err := user.PlaceOrder(ctx, "", shoptest.Item{ProductID: "p-mouse", Quantity: 1})
		if err != nil {
			return err
		}
		var o shoptest.Order
		if r.Status != http.StatusCreated || r.Decode(&o) != nil || o.Status != "confirmed" {
			return fmt.Errorf("warm-up order: status %d: %s", r.Status, r.Body)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// perSecond returns the orders answered in each second from from to to.
func perSecond(orders []*burstOrder, from, to time.Time) []int {
	var n []int
	for at := from; at.Before(to); at = at.Add(time.Second) {
		n = append(n, int(ordersPerSecond(orders, at, at.Add(time.Second))))
	}
	return n
}
