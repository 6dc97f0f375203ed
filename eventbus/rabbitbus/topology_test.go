package rabbitbus_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/rabbitbus"
	amqp "github.com/rabbitmq/amqp091-go"
)

// TestDeleteTopology: DeleteQueue removes a group's queue with its
// messages and the retry queues the bus declared for it, closing the
// bus's subscription of it; DeleteExchanges removes what Connect declared.
// Deleting twice is not an error.
func TestDeleteTopology(t *testing.T) {
	br := newBroker(t)
	b := br.dial(t, rabbitbus.WithLogger(nil)) // a nil logger is the default
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// A group that runs: one message waits in a retry queue.
	sub, err := br.subscriber(b).Subscribe(ctx, "billing", "order.*")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := eventbus.NewMessage("order.created", map[string]int{"n": 1})
	if err := b.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	d, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Nack(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	retryQueue := rabbitbus.QueueName(br.exchange, "billing", "order.*") + ".retry." + strconv.FormatInt(rabbitbus.RetryDelay(time.Minute).Milliseconds(), 10)
	if !br.exists(t, "queue", retryQueue) {
		t.Fatalf("retry queue %s not declared", retryQueue)
	}
	n, err := b.DeleteQueue(ctx, "billing", "order.*")
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("DeleteQueue deleted %d messages, want the one waiting for its retry", n)
	}
	if _, err := sub.Next(ctx); !errors.Is(err, eventbus.ErrClosed) {
		t.Errorf("Next on the deleted queue's subscription = %v, want ErrClosed", err)
	}
	for _, q := range []string{rabbitbus.QueueName(br.exchange, "billing", "order.*"), retryQueue} {
		if br.exists(t, "queue", q) {
			t.Errorf("queue %s still exists", q)
		}
	}

	// A group that does not run: its messages go with it.
	idle, err := br.subscriber(b).Subscribe(ctx, "audit", "order.>")
	if err != nil {
		t.Fatal(err)
	}
	_ = idle.Close()
	for range 3 {
		if _, err := eventbus.PublishEvent(ctx, b, "order.created", 1); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.DeleteQueue(ctx, "audit", "order.>"); n != 3 || err != nil {
		t.Errorf("DeleteQueue(audit) = %d, %v; want its 3 messages", n, err)
	}
	if n, err := b.DeleteQueue(ctx, "audit", "order.>"); n != 0 || err != nil {
		t.Errorf("second DeleteQueue = %d, %v; want 0, nil", n, err)
	}
	if _, err := b.DeleteQueue(ctx, "bad group!", "order.>"); !errors.Is(err, eventbus.ErrInvalidOption) {
		t.Errorf("DeleteQueue(bad group) = %v, want ErrInvalidOption", err)
	}

	if err := b.DeleteExchanges(ctx); err != nil {
		t.Fatal(err)
	}
	for kind, name := range map[string]string{"exchange": br.exchange, "dead-letter exchange": br.exchange + ".dlx", "queue": br.exchange + ".dead"} {
		if br.exists(t, kind, name) {
			t.Errorf("%s %s still exists", kind, name)
		}
	}
	if err := b.DeleteExchanges(ctx); err != nil {
		t.Errorf("second DeleteExchanges: %v", err)
	}
}

// exists reports whether the broker has the queue (kind "queue") or
// exchange (any other kind) name, declaring it passively on a channel of
// its own: a missing one closes the channel.
func (br *broker) exists(t *testing.T, kind, name string) bool {
	t.Helper()
	ch := br.plainChannel(t)
	var err error
	if kind == "queue" {
		_, err = ch.QueueDeclarePassive(name, true, false, false, false, nil)
	} else {
		err = ch.ExchangeDeclarePassive(name, amqp.ExchangeTopic, true, false, false, false, nil)
	}
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}
