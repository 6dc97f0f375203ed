package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/go-microkit/microkit/examples/shop/internal/shop"
	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
)

// BenchmarkPlaceOrder places orders through the gateway of the one-process
// shop, from parallel clients: each op is one order that ends confirmed
// (gateway, JWT, order-service, gRPC product lookup, saga with reservation
// and charge, the payment's outcome as an event that wakes the parked
// saga, outbox). The payment-service publishes the outcome 1ms after the
// charge, not its default 100ms, so that the figure is the shop's work,
// not the provider's delay. ns/op is the inverse of orders per second.
func BenchmarkPlaceOrder(b *testing.B) {
	sh, _ := startShop(b, func(cfg *shop.Config) { cfg.ConfirmAfter = time.Millisecond })
	c := &shoptest.Client{Base: sh.GatewayURL(), HTTP: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	if err := c.Login(b.Context(), shop.DemoUser.Email, shop.DemoUser.Password); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := c.PlaceOrder(b.Context(), "", shoptest.Item{ProductID: "p-mouse", Quantity: 1})
			if err != nil || r.Status != http.StatusCreated {
				b.Errorf("place order: %v %d %s", err, r.Status, r.Body)
				return
			}
		}
	})
}
