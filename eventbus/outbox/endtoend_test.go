package outbox_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/rabbitbus"
	"github.com/go-microkit/microkit/internal/rabbittest"
	"github.com/go-microkit/microkit/internal/testenv"
)

// TestEndToEndRepublishHasOneEffect closes the loop through RabbitMQ: orders
// committed with their events, a relay, a billing consumer behind the SQL
// inbox. The relay then "dies between publishing and marking" (the sent
// marks are cleared, as if never written) and publishes every event a
// second time: the consumer still bills each order once.
func TestEndToEndRepublishHasOneEffect(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			url := testenv.Addr(t, "MICROKIT_RABBITMQ_URL")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			d := be.Open(t)
			if _, err := d.db.ExecContext(ctx, "CREATE TABLE invoices (order_id TEXT NOT NULL)"); err != nil {
				t.Fatal(err)
			}
			exchange := "microkit_outbox_e2e_" + strings.ToLower(rand.Text()[:10])
			bus, err := rabbitbus.Connect(ctx, url, rabbitbus.WithExchange(exchange), rabbitbus.WithLogger(quiet()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				rabbittest.DeleteTopology(t, url, exchange, rabbitbus.QueueName(exchange, "billing", "order.created"))
			})
			defer bus.Close(context.Background())

			inbox := newInbox(t, d)
			billed, skipped := make(chan string, 100), make(chan string, 100)
			r, err := eventbus.NewRouter(bus, "billing", eventbus.WithLogger(quiet()), eventbus.WithConcurrency(4))
			if err != nil {
				t.Fatal(err)
			}
			bill := func(ctx context.Context, tx *sql.Tx, m *eventbus.Message) error {
				_, err := tx.ExecContext(ctx, "INSERT INTO invoices (order_id) VALUES ($1)", m.Subject)
				return err
			}
			if err := r.Handle("order.created", func(ctx context.Context, m *eventbus.Message) error {
				ran, err := inbox.Process(ctx, "billing", m, bill)
				switch {
				case err != nil:
					return err
				case ran:
					billed <- m.Subject
				default:
					skipped <- m.Subject
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := r.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer r.Close(context.Background())

			const orders = 20
			for i := range orders {
				id := fmt.Sprint("order-", i)
				if err := createOrder(ctx, d.db, id, orderCreated(t, id, i)); err != nil {
					t.Fatal(err)
				}
			}
			relay := newRelay(t, d, bus)
			relayAll := func() {
				for {
					n, err := relay.RelayOnce(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if n == 0 {
						return
					}
				}
			}
			relayAll()
			for range orders {
				select {
				case <-billed:
				case <-ctx.Done():
					t.Fatal("not every order was billed")
				}
			}
			// The relay crashed before its marks were committed: everything
			// is published again.
			if _, err := d.db.ExecContext(ctx, "UPDATE microkit_outbox SET sent_at = NULL"); err != nil {
				t.Fatal(err)
			}
			relayAll()
			// Every duplicate is delivered and skipped by the inbox.
			for range orders {
				select {
				case <-skipped:
				case id := <-billed:
					t.Fatalf("order %s billed a second time", id)
				case <-ctx.Done():
					t.Fatal("not every duplicate was delivered")
				}
			}
			if err := r.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if n := d.count(t, "SELECT count(*) FROM invoices"); n != orders {
				t.Fatalf("%d invoices for %d orders published twice, want one each", n, orders)
			}
			if n := d.count(t, "SELECT count(DISTINCT order_id) FROM invoices"); n != orders {
				t.Fatalf("%d orders invoiced, want %d", n, orders)
			}
		})
	}
}
