package memory_test

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/memory"
)

// TestNextBatchWindowAndSubjectOrder: NextBatch takes what is ready under
// one lock, waits the window after the first delivery for more, and holds
// at most one message of a subject, whose next joins the batch once the
// previous is settled. It runs in a testing/synctest bubble, so the window
// is exact.
func TestNextBatchWindowAndSubjectOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus, _ := memory.New()
		defer bus.Close(context.Background())
		sub, err := bus.Subscribe(t.Context(), "g", "a.b")
		if err != nil {
			t.Fatal(err)
		}
		bs := sub.(eventbus.BatchSubscription)
		for _, subject := range []string{"acct-1", "acct-1", "", "acct-2", "acct-1"} {
			if err := bus.Publish(t.Context(), newMsg(t, "a.b", subject)); err != nil {
				t.Fatal(err)
			}
		}
		subjects := func(ds []eventbus.Delivery) []string {
			var out []string
			for _, d := range ds {
				out = append(out, d.Message().Subject)
			}
			return out
		}
		start := time.Now()
		first, err := bs.NextBatch(t.Context(), 10, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got := subjects(first); !slices.Equal(got, []string{"acct-1", "", "acct-2"}) || time.Since(start) != time.Second {
			t.Fatalf("first batch %q after %v, want [acct-1 '' acct-2] (one per subject) after the 1s window", got, time.Since(start))
		}
		// Settling acct-1 while the next batch waits makes its successor
		// ready: it joins that batch, and the batch is full at 1.
		done := make(chan []eventbus.Delivery)
		go func() {
			ds, err := bs.NextBatch(t.Context(), 1, time.Hour)
			if err != nil {
				t.Error(err)
			}
			done <- ds
		}()
		synctest.Wait()
		start = time.Now()
		for _, d := range first {
			if err := d.Ack(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		second := <-done
		if got := subjects(second); !slices.Equal(got, []string{"acct-1"}) || time.Since(start) != 0 {
			t.Fatalf("second batch %q after %v, want [acct-1] at once", got, time.Since(start))
		}
		if err := second[0].Ack(t.Context()); err != nil {
			t.Fatal(err)
		}
		third, err := bs.NextBatch(t.Context(), 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := subjects(third); !slices.Equal(got, []string{"acct-1"}) {
			t.Fatalf("third batch %q, want the last acct-1", got)
		}
	})
}
