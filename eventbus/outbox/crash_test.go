package outbox_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/eventbus/outbox"
)

// The crash test runs TestCrashChild in a child process, which finds its
// database in these variables.
const (
	envCrashDriver = "OUTBOX_CRASH_DRIVER"
	envCrashDSN    = "OUTBOX_CRASH_DSN"
)

// TestCrashChild is the child process of TestCrashBeforePublish: it saves
// orders with their events in the outbox, one transaction each, and reports
// each commit on stdout until it is killed. It never publishes.
func TestCrashChild(t *testing.T) {
	driver, dsn := os.Getenv(envCrashDriver), os.Getenv(envCrashDSN)
	if driver == "" {
		return // not the child: nothing to do (this is not a skip)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		id := fmt.Sprint("order-", i)
		e1, e2 := orderCreated(t, id, 1), orderCreated(t, id, 2)
		if err := createOrder(ctx, db, id, e1, e2); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("committed", i)
	}
}

// TestCrashBeforePublish: a process that commits orders with their events
// and is SIGKILLed before any is published loses nothing and invents
// nothing: a relay started afterwards publishes exactly the events of the
// committed orders, each once.
func TestCrashBeforePublish(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			d := be.Open(t)
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), envCrashDriver+"="+d.driver, envCrashDSN+"="+d.dsn)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(out)
			committed := 0
			for committed < 25 && lines.Scan() {
				line := lines.Text()
				if strings.HasPrefix(line, "error") {
					t.Fatalf("child: %s", line)
				}
				if strings.HasPrefix(line, "committed") {
					committed++
				}
			}
			// Kill it in the middle of its next transactions.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()

			orders := d.count(t, "SELECT count(*) FROM orders")
			if orders < committed {
				t.Fatalf("%d orders in the database, but the child reported %d commits", orders, committed)
			}
			events := d.count(t, "SELECT count(*) FROM microkit_outbox")
			if events != 2*orders {
				t.Fatalf("%d events for %d orders, want 2 per order: the outbox and the business rows diverged", events, orders)
			}
			if n := d.count(t, "SELECT count(*) FROM microkit_outbox WHERE subject NOT IN (SELECT id FROM orders)"); n != 0 {
				t.Fatalf("%d events about orders that do not exist", n)
			}
			var ids []string
			rows, err := d.db.Query("SELECT id FROM microkit_outbox")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			_ = rows.Close()

			// After the restart, the relay publishes every event once.
			bus := newBus(t)
			got := collect(t, bus, "order.>")
			r := newRelay(t, d, bus, outbox.WithBatchSize(7))
			drain(t, r)
			got.waitFor(t, len(ids))
			got.exactlyOnce(t, ids)
			t.Logf("child killed after %d reported commits; %d orders and %d events found and relayed once", committed, orders, events)
		})
	}
}
