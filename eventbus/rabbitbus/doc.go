// Package rabbitbus is the RabbitMQ adapter of package eventbus, on
// github.com/rabbitmq/amqp091-go: a [Bus] is both an eventbus.Publisher and
// an eventbus.Subscriber, so a service uses it exactly like the memory or
// NATS bus and the eventbus.Router runs on it unchanged.
//
// It uses the common RabbitMQ topology for domain events: one durable topic
// exchange (default "domain_events") with the event type as the routing key.
//
// Where to start: [Connect] connects and declares the exchanges; Publish and
// Subscribe do the rest.
//
//   - Publish sends persistent messages on a channel in confirm mode and
//     returns only after the broker confirmed every one of them. While the
//     broker is unreachable it waits for the connection to come back and
//     sends again what was not confirmed, until its context ends. The
//     messages of one Subject reach the queues in their order even then
//     (eventbus.SubjectWaves).
//   - Subscribe declares one durable queue per consumer group and pattern,
//     named by [QueueName], bound to the exchange with the pattern's AMQP
//     form ("*" stays "*", ">" becomes "#"), and consumes it with manual
//     acknowledgements and a prefetch (basic.qos).
//   - Delivery.Nack republishes the message with its attempt count raised,
//     directly into the group's queue or, with a delay, through a retry
//     queue whose message TTL dead-letters it back into the group's queue
//     (delayed retry without a plugin). It acks the original only once the
//     broker confirmed the copy, so the copy is never lost; a crash between
//     the confirm and the ack delivers the message twice (at-least-once:
//     consumers deduplicate on its ID). Delivery.Term rejects it into the
//     dead-letter exchange (default "domain_events.dlx"), whose queue
//     "domain_events.dead" keeps it with RabbitMQ's x-death reason;
//     [Bus.DrainDeadLetters] moves that queue into the dead-letter store of
//     package eventbus/dlq, where every dead letter is listed and replayed.
//   - [Bus.DeleteQueue] and [Bus.DeleteExchanges] tear that topology down
//     when a group or the exchange is retired.
//   - A supervisor goroutine reconnects with backoff after the connection
//     is lost (a broker restart, a network cut) and every subscription
//     re-declares its topology and resumes consuming; what was delivered
//     but not acknowledged is redelivered by the broker.
//
// The envelope travels as AMQP properties (message-id, type, content-type)
// plus headers for the other CloudEvents attributes, the Metadata (a nested
// table) and the attempt count, so other AMQP clients can read it. With
// [WithClassicEnvelope] the body is the classic JSON envelope
// {"eventId", "eventType", "occurredAt", "payload"} as well, for services
// in other languages that publish and read that body.
package rabbitbus
