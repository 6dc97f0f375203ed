package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
)

// burstOrder is one order of a burst: its id, its item and, once placed,
// when the shop answered and with which status.
type burstOrder struct {
	id       string
	item     shoptest.Item
	answered time.Time
	status   string
	refused  time.Time // when an attempt last got no answer or an error
}

// newBurst returns n orders named prefix-000...: every fifth a laptop, over
// the payment limit (declined), the others keyboards and mice.
func newBurst(prefix string, n int) []*burstOrder {
	orders := make([]*burstOrder, n)
	for i := range orders {
		it := shoptest.Item{ProductID: "p-keyboard", Quantity: 1}
		switch i % 5 {
		case 4:
			it = shoptest.Item{ProductID: "p-laptop", Quantity: 1}
		case 1, 3:
			it = shoptest.Item{ProductID: "p-mouse", Quantity: int64(1 + i%3)}
		}
		orders[i] = &burstOrder{id: fmt.Sprintf("%s-%03d", prefix, i), item: it}
	}
	return orders
}

// placeAll places the orders with workers in parallel. Each client retries
// its order under the same id until the shop answers 200 or 201 (the id
// makes the retry idempotent), and calls onAnswer with the number answered
// so far.
func placeAll(ctx context.Context, t *testing.T, user *shoptest.Client, orders []*burstOrder, workers int, onAnswer func(answered int)) {
	t.Helper()
	next := make(chan *burstOrder)
	var mu sync.Mutex
	answered := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for o := range next {
				for {
					r, err := user.PlaceOrder(ctx, o.id, o.item)
					if err == nil && (r.Status == http.StatusCreated || r.Status == http.StatusOK) {
						var got shoptest.Order
						_ = r.Decode(&got)
						o.answered, o.status = time.Now(), got.Status
						break
					}
					o.refused = time.Now()
					if ctx.Err() != nil {
						t.Errorf("order %s never answered: %v %d %s", o.id, err, r.Status, r.Body)
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
				mu.Lock()
				answered++
				n := answered
				mu.Unlock()
				if onAnswer != nil {
					onAnswer(n)
				}
			}
		})
	}
	for _, o := range orders {
		select {
		case next <- o:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
}

// ordersPerSecond returns how many orders were answered per second in
// [from, to).
func ordersPerSecond(orders []*burstOrder, from, to time.Time) float64 {
	if !to.After(from) {
		return 0
	}
	n := 0
	for _, o := range orders {
		if !o.answered.Before(from) && o.answered.Before(to) {
			n++
		}
	}
	return float64(n) / to.Sub(from).Seconds()
}

// lastAnswer returns when the last order was answered.
func lastAnswer(orders []*burstOrder) time.Time {
	var last time.Time
	for _, o := range orders {
		if o.answered.After(last) {
			last = o.answered
		}
	}
	return last
}

// stockOf waits until no order in the order database is pending, then
// reads the stock of every product from the product database. An order
// still settling, such as one an earlier step placed and whose client gave
// up waiting, moves the stock when it settles, and the snapshot must not
// count it as the step's own.
func (c *cluster) stockOf(ctx context.Context) map[string]int64 {
	c.t.Helper()
	wait, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := shoptest.Eventually(wait, 100*time.Millisecond, func() error {
		pending, err := queryPairs(wait, c.db("order"), `SELECT id, status FROM orders WHERE status = 'pending'`)
		if err == nil && len(pending) > 0 {
			err = fmt.Errorf("%d orders pending: %v", len(pending), pending)
		}
		return err
	}); err != nil {
		c.t.Fatalf("the shop did not settle: %v", err)
	}
	rows, err := c.db("product").QueryContext(ctx, `SELECT id, stock FROM products`)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	m := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			c.t.Fatal(err)
		}
		m[id] = n
	}
	if err := rows.Err(); err != nil {
		c.t.Fatal(err)
	}
	return m
}

// queryPairs runs a query of two text columns and groups the second by the
// first.
func queryPairs(ctx context.Context, db *sql.DB, q string) (map[string][]string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string][]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		m[k] = append(m[k], v)
	}
	return m, rows.Err()
}

// checkSettled waits until every order is confirmed or cancelled and has
// exactly its two notifications, then checks, from each service's own
// database, that the effects agree with the outcome: a confirmed order has
// one charge and its stock reserved, a cancelled one no charge left and
// no stock held, a laptop (over the limit) is never confirmed, and the
// products' stock fell by exactly the confirmed quantities since before.
func (c *cluster) checkSettled(orders []*burstOrder, before map[string]int64) {
	t := c.t
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	ids := map[string]*burstOrder{}
	for _, o := range orders {
		ids[o.id] = o
	}
	var status map[string][]string
	err := shoptest.Eventually(ctx, 200*time.Millisecond, func() error {
		var err error
		if status, err = queryPairs(ctx, c.db("order"), `SELECT id, status FROM orders`); err != nil {
			return err
		}
		for id := range ids {
			if s := status[id]; len(s) != 1 || s[0] != "confirmed" && s[0] != "cancelled" {
				return fmt.Errorf("order %s is %v", id, s)
			}
		}
		notes, err := queryPairs(ctx, c.db("notification"), `SELECT order_id, kind FROM notifications`)
		if err != nil {
			return err
		}
		for id := range ids {
			got := slices.Sorted(slices.Values(notes[id]))
			want := []string{"order.created", "order." + status[id][0]}
			sort.Strings(want)
			if !slices.Equal(got, want) {
				return fmt.Errorf("notifications of %s (%s): %v, want %v", id, status[id][0], got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the orders did not settle: %v", err)
	}
	charges, err := queryPairs(ctx, c.db("payment"), `SELECT order_id, status FROM charges WHERE order_id <> ''`)
	if err != nil {
		t.Fatal(err)
	}
	reserved, err := queryPairs(ctx, c.db("product"),
		`SELECT res_key, product_id || ':' || quantity FROM reservations WHERE status = 'reserved'`)
	if err != nil {
		t.Fatal(err)
	}
	confirmed := map[string]int64{}
	refused := 0 // cancelled, though not over the payment limit
	for id, o := range ids {
		st := status[id][0]
		n := 0
		for _, s := range charges[id] {
			if s == "charged" {
				n++
			}
		}
		res := reserved[id+"/reserve-stock"]
		want := fmt.Sprintf("%s:%d", o.item.ProductID, o.item.Quantity)
		switch {
		case st == "confirmed" && o.item.ProductID == "p-laptop":
			t.Errorf("order %s of a laptop, over the payment limit, was confirmed", id)
		case st == "confirmed" && (n != 1 || !slices.Equal(res, []string{want})):
			t.Errorf("confirmed order %s: %d charges (want 1), reserved %v (want %s)", id, n, res, want)
		case st == "cancelled" && (n != 0 || len(res) != 0):
			t.Errorf("cancelled order %s: %d charges, reserved %v; want none left", id, n, res)
		}
		if st == "confirmed" {
			confirmed[o.item.ProductID] += o.item.Quantity
		} else if o.item.ProductID != "p-laptop" {
			refused++
		}
	}
	after := c.stockOf(ctx)
	for p, q := range before {
		if after[p] != q-confirmed[p] {
			t.Errorf("%s stock %d, want %d - %d confirmed", p, after[p], q, confirmed[p])
		}
	}
	t.Logf("%d orders settled: confirmed quantities %v, %d cancelled by the faults", len(orders), confirmed, refused)
}
