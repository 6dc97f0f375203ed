package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/examples/shop/internal/shop"
	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
	"github.com/go-microkit/microkit/internal/metricstest"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/internal/testenv"
	"github.com/go-microkit/microkit/tracing"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// The shop end to end, on each event bus it can run on: the embedded
// NATS server (the default), Redis Streams, PostgreSQL and SQLite as the
// broker.
func TestShopEndToEnd(t *testing.T) { endToEnd(t, "") }

func TestShopEndToEndOnRedis(t *testing.T) {
	endToEnd(t, "redis://"+testenv.Addr(t, "MICROKIT_REDIS_ADDR"))
}

func TestShopEndToEndOnPostgres(t *testing.T) {
	dsn, _ := sqltest.PostgresSchema(t, "shopbus")
	endToEnd(t, dsn)
}

func TestShopEndToEndOnSQLite(t *testing.T) { endToEnd(t, shop.BusSQLite) }

// endToEnd runs the shop's stories on the event bus busURL (a
// shop.Config.Bus), under a stream name of its own.
func endToEnd(t *testing.T, busURL string) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	sh, spans := startShop(t, func(cfg *shop.Config) {
		cfg.Bus = busURL
		cfg.Stream = "E2E" + strings.ToUpper(hex.EncodeToString(b))
		cfg.ShipAfter = 200 * time.Millisecond
		cfg.PaymentDeadline = 2 * time.Second
	})
	ctx := t.Context()
	c := &shoptest.Client{Base: sh.GatewayURL()}

	// Sign-up and login.
	if err := c.Expect(ctx, http.MethodPost, "/api/users/signup",
		map[string]string{"email": "ada@example.com", "password": "correct horse"}, http.StatusAccepted, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Expect(ctx, http.MethodPost, "/api/users/signup",
		map[string]string{"email": "ada@example.com", "password": "another one"}, http.StatusAccepted, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Expect(ctx, http.MethodPost, "/api/users/login",
		map[string]string{"email": "ada@example.com", "password": "wrong password"}, http.StatusUnauthorized, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Expect(ctx, http.MethodGet, "/api/orders", nil, http.StatusUnauthorized, nil); err != nil {
		t.Fatal("orders without a token:", err)
	}
	if err := c.Login(ctx, "ada@example.com", "correct horse"); err != nil {
		t.Fatal(err)
	}
	var me struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	}
	if err := c.Expect(ctx, http.MethodGet, "/api/users/me", nil, http.StatusOK, &me); err != nil || me.Email != "ada@example.com" {
		t.Fatalf("me = %+v, %v", me, err)
	}

	// Products are public.
	var ps []shoptest.Product
	if err := (&shoptest.Client{Base: c.Base}).Expect(ctx, http.MethodGet, "/api/products", nil, http.StatusOK, &ps); err != nil {
		t.Fatal(err)
	}
	if len(ps) != 4 {
		t.Fatalf("catalog has %d products, want 4: %+v", len(ps), ps)
	}

	// An order that ends confirmed, in a trace the test starts.
	keyboards := product(t, c, "p-keyboard").Stock
	traceID := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	traced := *c
	traced.Header = http.Header{"Traceparent": {"00-" + traceID.String() + "-00f067aa0ba902b7-01"}}
	r, err := traced.PlaceOrder(ctx, "", shoptest.Item{ProductID: "p-keyboard", Quantity: 2})
	if err != nil || r.Status != http.StatusCreated {
		t.Fatalf("place order: %v %d %s", err, r.Status, r.Body)
	}
	var ok shoptest.Order
	if err := r.Decode(&ok); err != nil {
		t.Fatal(err)
	}
	// Paid asynchronously: the create waited (Prefer: wait) for the
	// payment-service's event, then the warehouse ships it.
	if ok.Status != "confirmed" && ok.Status != "shipped" || ok.TotalCents != 2*8900 || ok.Customer != me.ID {
		t.Fatalf("order = %+v, want confirmed, 17800 cents, customer %s", ok, me.ID)
	}
	if got := product(t, c, "p-keyboard").Stock; got != keyboards-2 {
		t.Errorf("keyboard stock = %d, want %d", got, keyboards-2)
	}
	if ok = waitOrder(t, c, ok.ID, "shipped"); !strings.HasPrefix(ok.TrackingNumber, "TRK-") {
		t.Fatalf("shipped order %+v, want a tracking number", ok)
	}
	waitNotifications(t, c, ok.ID, "order.confirmed", "order.created", "order.shipped")
	var ns []shoptest.Notification
	if err := c.Expect(ctx, http.MethodGet, "/api/notifications?order_id="+ok.ID, nil, http.StatusOK, &ns); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(ns, func(n shoptest.Notification) bool {
		return n.Kind == "order.shipped" && strings.Contains(n.Message, ok.TrackingNumber)
	}) {
		t.Errorf("no shipping notification with the tracking number %s: %+v", ok.TrackingNumber, ns)
	}

	t.Run("an order placed without waiting is pending until its payment's event", func(t *testing.T) {
		r, err := c.PlaceOrderNoWait(ctx, "", shoptest.Item{ProductID: "p-mouse", Quantity: 1})
		var o shoptest.Order
		if err != nil || r.Status != http.StatusCreated || r.Decode(&o) != nil || o.Status == "cancelled" {
			t.Fatalf("place order: %v %d %s", err, r.Status, r.Body)
		}
		waitOrder(t, c, o.ID, "shipped")
	})

	t.Run("an unpaid order is cancelled at its payment deadline, its stock released", func(t *testing.T) {
		admin := adminClient(t, c.Base)
		setFaults(t, admin, "payment-faults", map[string]any{"hold_confirmations": true})
		defer setFaults(t, admin, "payment-faults", map[string]any{})
		mice := product(t, c, "p-mouse").Stock
		r, err := c.PlaceOrderNoWait(ctx, "", shoptest.Item{ProductID: "p-mouse", Quantity: 2})
		var o shoptest.Order
		if err != nil || r.Status != http.StatusCreated || r.Decode(&o) != nil || o.Status != "pending" {
			t.Fatalf("place order: %v %d %s, want it pending", err, r.Status, r.Body)
		}
		if got := product(t, c, "p-mouse").Stock; got != mice-2 {
			t.Errorf("mouse stock = %d while the order waits, want %d reserved", got, mice-2)
		}
		o = waitOrder(t, c, o.ID, "cancelled")
		if o.Reason == nil || o.Reason.Code != "payment_timeout" {
			t.Errorf("order %+v, want cancelled for payment_timeout", o)
		}
		if got := product(t, c, "p-mouse").Stock; got != mice {
			t.Errorf("mouse stock = %d, want %d (released)", got, mice)
		}
		var d details
		if err := c.Expect(ctx, http.MethodGet, "/api/orders/"+o.ID+"/details", nil, http.StatusOK, &d); err != nil {
			t.Fatal(err)
		}
		if len(d.Data.Payments) != 1 || d.Data.Payments[0].Status != "refunded" {
			t.Errorf("payments of an unpaid order %+v, want its charge refunded", d.Data.Payments)
		}
		waitNotifications(t, c, o.ID, "order.cancelled", "order.created")
	})

	t.Run("declined order is cancelled with stock released and no charge", func(t *testing.T) {
		laptops := product(t, c, "p-laptop").Stock
		r, err := c.PlaceOrder(ctx, "", shoptest.Item{ProductID: "p-laptop", Quantity: 1})
		if err != nil || r.Status != http.StatusCreated {
			t.Fatalf("place order: %v %d %s", err, r.Status, r.Body)
		}
		var o shoptest.Order
		if err := r.Decode(&o); err != nil {
			t.Fatal(err)
		}
		if o.Status != "cancelled" || o.Reason == nil || o.Reason.Code != "payment_declined" {
			t.Fatalf("order = %+v, want cancelled because declined", o)
		}
		if got := product(t, c, "p-laptop").Stock; got != laptops {
			t.Errorf("laptop stock = %d, want %d (released)", got, laptops)
		}
		var d details
		if err := c.Expect(ctx, http.MethodGet, "/api/orders/"+o.ID+"/details", nil, http.StatusOK, &d); err != nil {
			t.Fatal(err)
		}
		for _, p := range d.Data.Payments {
			if p.Status == "charged" {
				t.Errorf("a declined order left a charge: %+v", d.Data.Payments)
			}
		}
		waitNotifications(t, c, o.ID, "order.cancelled", "order.created")
	})

	t.Run("order details composition", func(t *testing.T) {
		var d details
		if err := c.Expect(ctx, http.MethodGet, "/api/orders/"+ok.ID+"/details", nil, http.StatusOK, &d); err != nil {
			t.Fatal(err)
		}
		if d.Partial || d.Data.Order.ID != ok.ID || d.Data.Order.Status != "shipped" {
			t.Fatalf("details = %+v", d)
		}
		if len(d.Data.Payments) != 1 || d.Data.Payments[0].Status != "charged" || d.Data.Payments[0].AmountCents != ok.TotalCents {
			t.Errorf("payments = %+v, want one charge of %d", d.Data.Payments, ok.TotalCents)
		}
		if len(d.Data.Notifications) != 3 {
			t.Errorf("notifications = %+v, want 3: received, confirmed, shipped", d.Data.Notifications)
		}
		other := &shoptest.Client{Base: c.Base}
		if err := other.SignUpAndLogin(ctx, "eve@example.com", "eavesdropper"); err != nil {
			t.Fatal(err)
		}
		if r, err := other.Do(ctx, http.MethodGet, "/api/orders/"+ok.ID+"/details", nil); err != nil || r.Status == http.StatusOK {
			t.Errorf("another customer read the order's details: %v %d %s", err, r.Status, r.Body)
		}
	})

	t.Run("one trace spans gateway, order, saga, product, payment and notification", func(t *testing.T) {
		want := map[string]func(s sdktrace.ReadOnlySpan) bool{
			"gateway":         serverSpan("/api/orders"),
			"order-service":   serverSpan("POST /orders"),
			"saga":            named("saga create-order"),
			"saga step":       named("saga step reserve-stock"),
			"product (gRPC)":  serverSpan("ProductService/GetProduct"),
			"stock":           serverSpan("POST /reservations"),
			"payment-service": serverSpan("POST /charges"),
			"notification": func(s sdktrace.ReadOnlySpan) bool {
				return s.SpanKind() == trace.SpanKindConsumer && s.Name() == "process order.confirmed"
			},
		}
		err := shoptest.Eventually(waitCtx(t), 20*time.Millisecond, func() error {
			var missing []string
			for name, match := range want {
				if !slices.ContainsFunc(spans.GetSpans().Snapshots(), func(s sdktrace.ReadOnlySpan) bool {
					return s.SpanContext().TraceID() == traceID && match(s)
				}) {
					missing = append(missing, name)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("no span of %v in trace %s", missing, traceID)
			}
			return nil
		})
		if err != nil {
			var names []string
			for _, s := range spans.GetSpans().Snapshots() {
				if s.SpanContext().TraceID() == traceID {
					names = append(names, s.SpanKind().String()+" "+s.Name())
				}
			}
			t.Fatalf("%v; the trace has %q", err, names)
		}
	})

	t.Run("payment faults open the breaker and orders fail fast", func(t *testing.T) {
		if err := adminClient(t, c.Base).SetPaymentFaults(ctx, 1); err != nil {
			t.Fatal(err)
		}
		before := product(t, c, "p-mouse").Stock
		answers, err := c.PlaceUntilRefused(ctx, 10, shoptest.Item{ProductID: "p-mouse", Quantity: 1})
		if err != nil {
			t.Fatalf("the breaker did not open: %v", err)
		}
		refused := answers[len(answers)-1]
		if refused.ErrorCode() != "payment_unavailable" {
			t.Fatalf("fail-fast answer %s, want payment_unavailable", refused.Body)
		}
		checkNoLeak(t, refused.Body)
		cancelled := answers[:len(answers)-1]
		for i, r := range cancelled {
			var o shoptest.Order
			if err := r.Decode(&o); err != nil || r.Status != http.StatusCreated || o.Status != "cancelled" {
				t.Fatalf("order %d under faults: %d %s, want 201 cancelled", i, r.Status, r.Body)
			}
			// Failed charges and the open breaker alike: the shop failed,
			// told without its internals.
			if o.Reason == nil || o.Reason.Code != "service_unavailable" {
				t.Errorf("order %d under faults cancelled for %s, want service_unavailable", i, o.Reason)
			}
			checkNoLeak(t, r.Body)
		}
		if len(cancelled) == 0 {
			t.Error("the first order under faults already failed fast")
		}
		// The next orders fail fast too, and took no stock.
		r, err := c.PlaceOrder(ctx, "", shoptest.Item{ProductID: "p-mouse", Quantity: 1})
		if err != nil || r.Status != http.StatusServiceUnavailable {
			t.Fatalf("order with the breaker open: %v %d %s", err, r.Status, r.Body)
		}
		if got := product(t, c, "p-mouse").Stock; got != before {
			t.Errorf("mouse stock = %d, want %d: cancelled orders released their stock", got, before)
		}
	})

	t.Run("probes and metrics", func(t *testing.T) {
		for _, svc := range shop.All {
			for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
				resp, err := http.Get(sh.InternalURL(svc) + path)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s %s: %d %s", svc, path, resp.StatusCode, body)
				}
				if path == "/metrics" {
					checkMetricNames(t, svc, body)
				}
				if path == "/metrics" && svc == shop.Order {
					for _, m := range []string{"microkit_saga_completed_total", `microkit_breaker_transitions_total{breaker="payment-service"`,
						`microkit_outbox_events_relayed_total{table="microkit_outbox"}`} {
						if !strings.Contains(string(body), m) {
							t.Errorf("order-service metrics lack %s", m)
						}
					}
				}
			}
		}
	})
}

// named matches the spans named name.
func named(name string) func(s sdktrace.ReadOnlySpan) bool {
	return func(s sdktrace.ReadOnlySpan) bool { return s.Name() == name }
}

func serverSpan(nameContains string) func(s sdktrace.ReadOnlySpan) bool {
	return func(s sdktrace.ReadOnlySpan) bool {
		return s.SpanKind() == trace.SpanKindServer && strings.Contains(s.Name(), nameContains)
	}
}

// checkMetricNames parses a /metrics page and checks every microkit_ family
// against the house naming convention (metricstest.CheckMetricName): the shop
// wires every package's metrics, so this covers them all.
func checkMetricNames(t *testing.T, svc string, page []byte) {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(page))
	if err != nil {
		t.Fatalf("%s /metrics: %v", svc, err)
	}
	for name, f := range families {
		if !strings.HasPrefix(name, tracing.MetricNamespace+"_") {
			continue
		}
		if err := metricstest.CheckMetricName(name, f.GetType() == dto.MetricType_COUNTER); err != nil {
			t.Errorf("%s: %v", svc, err)
		}
	}
}
