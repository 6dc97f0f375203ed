// Package natsbus is the NATS JetStream adapter of eventbus: a Bus that is
// both an eventbus.Publisher and an eventbus.Subscriber, built on nats.go's
// jetstream package.
//
// Start with Connect (the bus owns the connection and its reconnect policy)
// or New (you own the connection), then publish through the Bus and consume
// through an eventbus.Router.
//
// How the eventbus promises map onto JetStream:
//
//   - Durability: the bus provisions a file-backed stream (or binds to an
//     existing one with WithBindStream) holding subjects "<prefix>.>"; an
//     event of type "order.created" is stored under "events.order.created".
//     Publish returns once the stream acknowledged every message, retrying
//     through disconnects and broker restarts until its context ends.
//   - Deduplication: each message's ID travels as Nats-Msg-Id, so a publish
//     retried after a lost acknowledgement is stored once.
//   - Consumer groups: each (group, pattern) pair is a durable pull consumer
//     with explicit acks; every instance that subscribes to the pair pulls
//     from it, so instances share the work and groups each get every event.
//   - Redelivery: Nack maps to NakWithDelay, so the router's retry policy
//     drives the delay; Attempt is JetStream's NumDelivered, which survives
//     consumer restarts. A delivery not settled within the ack wait (a
//     killed consumer) is redelivered to another instance. The ack wait
//     runs from when the server sends a message, so it also covers the
//     time the message waits in the prefetch for a worker: when a broker
//     restart holds the workers up past it (a confirmed ack or a dead
//     letter's publish waiting for the reconnect), what waits behind them
//     is redelivered while its first copy is still to be handled, and is
//     handled again (see inbox.Dedupe) or parked again (see
//     eventbus.DeadLetter), as at-least-once delivery allows. MaxDeliver
//     is an optional backstop behind the router's dead-lettering.
//   - Flow control: a subscription holds at most its prefetch ahead of
//     Next, pulled through jetstream's Consume into a queue whose callback
//     waits while it is full, so a slow handler never makes the client drop
//     deliveries as a slow consumer (which would leave them unacked until
//     the ack wait).
//   - Shutdown: closing a subscription drains it and naks what it had
//     fetched but not handed out, so another instance gets it at once.
//
// Publish stores the messages of one Subject in their order even when one
// of them fails and is sent again after later ones were stored: a batch goes
// out in waves (eventbus.SubjectWaves). JetStream does not order
// redeliveries, so the bus does not promise per-subject order of delivery.
package natsbus
