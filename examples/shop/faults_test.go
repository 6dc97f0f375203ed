package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/examples/shop/internal/shop"
	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
	"github.com/go-microkit/microkit/internal/consultest"
	"github.com/go-microkit/microkit/internal/sqltest"
	"github.com/go-microkit/microkit/saga"
)

// TestShopFaults runs the multi-process shop on its own Consul agent and
// its own PostgreSQL server, with the payment-service and the
// product-service's HTTP API behind proxies that lose replies and restart,
// and checks that each fault ends with
// every effect agreeing with the order's outcome, and soon.
func TestShopFaults(t *testing.T) {
	agent := consultest.StartAgent(t)
	pg := sqltest.StartPostgres(t)
	payment, product := newFaultProxy(t), newFaultProxy(t)
	c := newCluster(t, clusterConfig{consulAddr: agent.Addr(), pgURL: pg.DSN(), extra: map[string][]string{
		shop.Payment: {"-advertise-port", payment.port()},
		shop.Product: {"-advertise-port", product.port()},
	}})
	c.launchAll(1)
	payment.setUpstream(c.urls[shop.Payment])
	product.setUpstream(c.urls[shop.Product])
	c.waitAllPassing(1) // through the proxies, now that they have their upstreams
	user := &shoptest.Client{Base: c.gateway, HTTP: &http.Client{Timeout: 40 * time.Second}}
	warmUp(t, user)

	// The saga's local steps write the order, its events and the saga's
	// record together, and its waits park it in one write: a confirmed
	// order, waiting for the warehouse, is four writes of its saga record
	// (version 4): the order with the record, the reservation done and the
	// charge started, the charge sent and the saga parked, then the
	// confirmation with its events, the shipment's booking and the park
	// for the warehouse in one (the payment's event takes the saga back
	// with no write of its own: that one claims it); retries and lease
	// renewals aside.
	t.Run("a confirmed order is four writes of its saga record", func(t *testing.T) {
		r, err := user.PlaceOrder(t.Context(), "four-writes", shoptest.Item{ProductID: "p-keyboard", Quantity: 1})
		var o shoptest.Order
		if err != nil || r.Status != http.StatusCreated || r.Decode(&o) != nil || o.Status != "confirmed" {
			t.Fatalf("order: %v %d %s, want 201 confirmed", err, r.Status, r.Body)
		}
		// The answer comes once the order is confirmed; the park that
		// follows is the saga's next write.
		var version int
		var status, stepsJSON string
		if err := shoptest.Eventually(waitCtx(t), 20*time.Millisecond, func() error {
			if err := c.db(shop.Order).QueryRowContext(t.Context(),
				`SELECT version, status, steps FROM microkit_sagas WHERE id = 'four-writes'`).Scan(&version, &status, &stepsJSON); err != nil {
				return err
			}
			if status != "waiting" {
				return fmt.Errorf("saga four-writes is %s", status)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// Two kinds of write come on top, both load's doing: a remote
		// step's retry, made before the attempt starts, and the lease's
		// renewal, written each third of the lease (2s here) while a step
		// executes: at most one more than the renewals that fit in the
		// step's time. Without local steps the order would cost at least
		// three writes more (each local step's own "running" write).
		var steps []saga.StepRecord
		if err := json.Unmarshal([]byte(stepsJSON), &steps); err != nil {
			t.Fatal(err)
		}
		const renewEvery = 2 * time.Second / 3
		retries, renewals := 0, 0
		for _, s := range steps {
			if s.Attempts > 1 {
				retries += s.Attempts - 1
				t.Logf("step %s ran %d times (last error %q)", s.Name, s.Attempts, s.Error)
			}
			if s.Name == "reserve-stock" || s.Name == "charge-payment" {
				renewals++
				if took := s.EndedAt.Sub(s.StartedAt); !s.EndedAt.IsZero() && took > 0 {
					renewals += int(took / renewEvery)
				}
			}
		}
		if want := 4 + retries; version < want || version > want+renewals || status != "waiting" {
			t.Fatalf("saga record: version %d, %s, with %d retries; want version %d (up to %d lease renewals more), waiting",
				version, status, retries, want, renewals)
		}
		// The create answers with the order as settled: it must be what a
		// read returns.
		got, err := user.Do(t.Context(), http.MethodGet, "/api/orders/four-writes", nil)
		if err != nil || got.Status != http.StatusOK || !bytes.Equal(bytes.TrimSpace(got.Body), bytes.TrimSpace(r.Body)) {
			t.Fatalf("the order read back (%v, %d %s) differs from the one the create answered (%s)", err, got.Status, got.Body, r.Body)
		}
	})

	// A participant applied the step, but its reply was lost and its retries
	// refused: the outcome is unknown, so the saga undoes it.
	lostReply := func(p *faultProxy, route, orderID string) func(t *testing.T) {
		return func(t *testing.T) {
			before := c.stockOf(t.Context())
			p.loseReply(route)
			r, err := user.PlaceOrder(t.Context(), orderID, shoptest.Item{ProductID: "p-keyboard", Quantity: 1})
			lost := p.heal()
			var o shoptest.Order
			if err != nil || r.Status != http.StatusCreated || r.Decode(&o) != nil || o.Status != "cancelled" {
				t.Fatalf("order with the reply of %s lost: %v %d %s, want 201 cancelled", route, err, r.Status, r.Body)
			}
			if lost != 1 {
				t.Fatalf("the proxy lost %d replies of %s, want 1", lost, route)
			}
			c.checkSettled([]*burstOrder{{id: orderID, item: shoptest.Item{ProductID: "p-keyboard", Quantity: 1}}}, before)
		}
	}
	t.Run("a charge whose reply was lost is refunded", func(t *testing.T) {
		lostReply(payment, "POST /charges", "lost-charge")(t)
		charges, err := queryPairs(t.Context(), c.db(shop.Payment), `SELECT order_id, status FROM charges WHERE order_id = 'lost-charge'`)
		if err != nil {
			t.Fatal(err)
		}
		if got := charges["lost-charge"]; !slices.Equal(got, []string{"refunded"}) {
			t.Fatalf("charges of the order: %v, want the one the proxy let through, refunded", got)
		}
	})
	t.Run("a reservation whose reply was lost is released", func(t *testing.T) {
		lostReply(product, "POST /reservations", "lost-reservation")(t)
		res, err := queryPairs(t.Context(), c.db(shop.Product),
			`SELECT res_key, status FROM reservations WHERE res_key = 'lost-reservation/reserve-stock'`)
		if err != nil {
			t.Fatal(err)
		}
		if got := res["lost-reservation/reserve-stock"]; !slices.Equal(got, []string{"released"}) {
			t.Fatalf("reservation of the order: %v, want the one the proxy let through, released", got)
		}
	})
	t.Run("a sub-second restart costs seconds of refused orders", func(t *testing.T) {
		subSecondRestart(t, user, payment)
	})
	t.Run("a database restart mid-burst loses nothing", func(t *testing.T) {
		databaseRestart(t, c, pg, user)
	})
	t.Run("concurrent readiness probes all succeed", func(t *testing.T) {
		concurrentProbes(t, c.urls[shop.Product]+"/readyz")
	})
	// Last: it restarts the registry under everything.
	t.Run("a registry restarted empty is filled again", func(t *testing.T) {
		registryRestart(t, c, agent, user)
	})
}

// databaseRestart stops and restarts the PostgreSQL server of every service
// in the middle of a burst of orders, each retried under its id until
// answered: sessions are cut with commits in flight, so some steps end with
// an unknown outcome. Every order still settles with its effects agreeing,
// and no order is refused more than refusalBound after the server is back
// (a longer outage would show: the clients keep retrying until answered).
func databaseRestart(t *testing.T, c *cluster, pg *sqltest.PostgresServer, user *shoptest.Client) {
	const refusalBound = 5 * time.Second
	before := c.stockOf(t.Context())
	orders := newBurst("pg", 240)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	var third sync.Once
	thirdAnswered, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		placeAll(ctx, t, user, orders, 8, func(answered int) {
			if answered >= len(orders)/3 {
				third.Do(func() { close(thirdAnswered) })
			}
		})
	}()
	select {
	case <-thirdAnswered:
	case <-done:
		t.Fatal("the burst ended before a third of it was answered")
	}
	pg.Stop(t)
	pg.Start(t)
	back := time.Now()
	<-done
	if t.Failed() {
		t.FailNow()
	}
	var last time.Time
	refused := 0
	for _, o := range orders {
		if !o.refused.IsZero() {
			refused++
			if o.refused.After(last) {
				last = o.refused
			}
		}
	}
	t.Logf("%d orders, %d refused at least once; the last refusal %v after the database was back",
		len(orders), refused, last.Sub(back).Round(10*time.Millisecond))
	if last.Sub(back) > refusalBound {
		t.Errorf("orders still refused %v after the database was back, want at most %v",
			last.Sub(back).Round(10*time.Millisecond), refusalBound)
	}
	c.checkSettled(orders, before)
}

// concurrentProbes sends rounds of simultaneous GETs of a readiness URL, as
// a registry's checks and a load balancer's do, and wants every one to
// answer 200: a probe must never fail because another one is running.
func concurrentProbes(t *testing.T, url string) {
	const rounds, probes = 10, 20
	client := &http.Client{Timeout: 10 * time.Second}
	failed := 0
	for range rounds {
		var wg sync.WaitGroup
		var mu sync.Mutex
		start := make(chan struct{})
		for range probes {
			wg.Go(func() {
				<-start
				resp, err := client.Get(url)
				ok := err == nil && resp.StatusCode == http.StatusOK
				if err == nil {
					resp.Body.Close()
				}
				if !ok {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
	}
	if failed > 0 {
		t.Errorf("%d of %d concurrent readiness probes of a healthy service failed", failed, rounds*probes)
	}
}

// registryRestart kills the shop's Consul agent and starts it again empty,
// as a crashed agent without persistence comes back. While it is down the
// shop serves from its resolvers' last sets; once it is back, every service
// registers again and orders are confirmed, within registryBound.
func registryRestart(t *testing.T, c *cluster, agent *consultest.Agent, user *shoptest.Client) {
	// Announce rechecks its registration every 5 s; a new registration
	// passes after its first check (every 1 s), and watches see it at once.
	const registryBound = 20 * time.Second
	agent.Kill()
	r, err := user.PlaceOrder(t.Context(), "", shoptest.Item{ProductID: "p-mouse", Quantity: 1})
	var o shoptest.Order
	if err != nil || r.Status != http.StatusCreated || r.Decode(&o) != nil || o.Status != "confirmed" {
		t.Errorf("order with the registry down: %v %d %s, want 201 confirmed from the resolvers' last sets", err, r.Status, r.Body)
	}
	agent.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), registryBound)
	defer cancel()
	services := []string{"user-service", "product-service", "product-grpc", "payment-service", "notification-service", "order-service"}
	err = shoptest.Eventually(ctx, 200*time.Millisecond, func() error {
		for _, svc := range services {
			entries, _, err := agent.Client(t).Health().Service(c.run+"-"+svc, "", true, nil)
			if err != nil {
				return err
			}
			if len(entries) != 1 {
				return fmt.Errorf("%s has %d passing instances, want 1", svc, len(entries))
			}
		}
		r, err := user.PlaceOrder(ctx, "", shoptest.Item{ProductID: "p-mouse", Quantity: 1})
		if err != nil {
			return err
		}
		var o shoptest.Order
		if r.Status != http.StatusCreated || r.Decode(&o) != nil || o.Status != "confirmed" {
			return fmt.Errorf("order: %d %s", r.Status, r.Body)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v after the registry restarted empty: %v", registryBound, err)
	}
}

// placed is one order of a steady stream: when it was placed and whether
// the shop refused it.
type placed struct {
	at      time.Time
	refused bool
}

// subSecondRestart places orders steadily while the payment-service's
// listener goes away for half a second, and checks that the shop refuses
// orders for at most refusalBound after it is back: its breakers open for
// about a second, not 30.
func subSecondRestart(t *testing.T, user *shoptest.Client, p *faultProxy) {
	const (
		down         = 500 * time.Millisecond
		refusalBound = 5 * time.Second // the breakers' old open duration was 10-30 s
		after        = 8 * time.Second // orders placed after the restart
	)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var mu sync.Mutex
	var log []placed
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				at := time.Now()
				r, err := user.PlaceOrder(ctx, fmt.Sprintf("blip-%d-%04d", w, i), shoptest.Item{ProductID: "p-mouse", Quantity: 1})
				if ctx.Err() != nil {
					return
				}
				var o shoptest.Order
				ok := err == nil && r.Status == http.StatusCreated && r.Decode(&o) == nil && o.Status == "confirmed"
				mu.Lock()
				log = append(log, placed{at, !ok})
				mu.Unlock()
			}
		})
	}
	time.Sleep(time.Second)
	p.blip(down)
	back := time.Now()
	time.Sleep(after)
	cancel()
	wg.Wait()

	refused := 0
	var last time.Time
	for _, o := range log {
		if o.refused {
			refused++
			if o.at.After(last) {
				last = o.at
			}
		}
	}
	t.Logf("%d orders, %d refused; the last refused one was placed %v after the listener was back",
		len(log), refused, last.Sub(back).Round(10*time.Millisecond))
	if refused > 0 && last.Sub(back) > refusalBound {
		t.Errorf("orders still refused %v after a %v restart, want at most %v",
			last.Sub(back).Round(10*time.Millisecond), down, refusalBound)
	}
	if countAfter(log, back.Add(refusalBound)) == 0 {
		t.Errorf("no order was placed more than %v after the restart: the check proves nothing", refusalBound)
	}
}

// countAfter returns how many orders were placed after at.
func countAfter(log []placed, at time.Time) int {
	n := 0
	for _, o := range log {
		if o.at.After(at) {
			n++
		}
	}
	return n
}
