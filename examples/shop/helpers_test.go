package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/go-microkit/microkit/examples/shop/internal/shop"
	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// startShop runs the one-process shop on free ports with spans going to an
// in-memory exporter; each tune changes the configuration first.
func startShop(t testing.TB, tune ...func(*shop.Config)) (*shop.Shop, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	return shoptest.Start(t, tune...), exp
}

// adminClient logs in as the seeded administrator.
func adminClient(t *testing.T, gatewayURL string) *shoptest.Client {
	t.Helper()
	c := &shoptest.Client{Base: gatewayURL}
	if err := c.Login(t.Context(), shop.DemoAdmin.Email, shop.DemoAdmin.Password); err != nil {
		t.Fatal(err)
	}
	return c
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func product(t *testing.T, c *shoptest.Client, id string) shoptest.Product {
	t.Helper()
	var p shoptest.Product
	if err := c.Expect(t.Context(), http.MethodGet, "/api/products/"+id, nil, http.StatusOK, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitOrder waits until the order id is in status, and returns it.
func waitOrder(t *testing.T, c *shoptest.Client, id, status string) shoptest.Order {
	t.Helper()
	var o shoptest.Order
	err := shoptest.Eventually(waitCtx(t), 20*time.Millisecond, func() error {
		if err := c.Expect(t.Context(), http.MethodGet, "/api/orders/"+id, nil, http.StatusOK, &o); err != nil {
			return err
		}
		if o.Status != status {
			return fmt.Errorf("order %s is %s, want %s", id, o.Status, status)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// waitNotifications waits until the order's notifications are exactly the
// kinds given.
func waitNotifications(t *testing.T, c *shoptest.Client, orderID string, kinds ...string) {
	t.Helper()
	if err := c.WaitNotifications(waitCtx(t), orderID, kinds...); err != nil {
		t.Fatal(err)
	}
}

type details struct {
	Data struct {
		Order    shoptest.Order `json:"order"`
		Payments []struct {
			Status      string `json:"status"`
			AmountCents int64  `json:"amount_cents"`
		} `json:"payments"`
		Notifications []shoptest.Notification `json:"notifications"`
	} `json:"data"`
	Partial bool `json:"partial"`
}
