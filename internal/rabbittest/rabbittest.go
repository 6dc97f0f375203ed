// Package rabbittest holds test helpers for code that runs a rabbitbus.Bus
// against the shared RabbitMQ broker.
package rabbittest

import (
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DeleteTopology deletes from the broker at url what a rabbitbus.Bus on
// exchange declared: the given queues (see rabbitbus.QueueName), the
// dead-letter queue, the exchange and its dead-letter exchange. Failures are
// test errors; retry queues expire on their own.
func DeleteTopology(t testing.TB, url, exchange string, queues ...string) {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Error(err)
		return
	}
	defer ch.Close()
	for _, q := range append(queues, exchange+".dead") {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			t.Error(err)
		}
	}
	for _, x := range []string{exchange, exchange + ".dlx"} {
		if err := ch.ExchangeDelete(x, false, false); err != nil {
			t.Error(err)
		}
	}
}
