// Package eventbus publishes domain events to a broker and routes them to
// handlers by event type, with delivery guarantees that fit in one sentence:
// at-least-once, nothing acknowledged before its handler succeeded, nothing
// lost when the broker or a consumer restarts, and poison messages parked in
// a dead-letter type with their reason instead of looping forever.
//
// It implements the publish/subscribe (event-driven messaging) pattern with
// competing consumers: instances of one service share a consumer group and
// split the work, while different groups each receive every event.
//
// Where to start:
//
//   - [Message] is the envelope (CloudEvents attributes, Data, Metadata);
//     [NewMessage] builds one from a JSON payload and [Decode] reads it back;
//     [PublishEvent] builds and publishes one in one call.
//   - [Publisher] and [Subscriber] are the ports, closed with Close(ctx),
//     which bounds the wait for the broker. Adapters implement them:
//     package eventbus/memory (in-process, the default and the test double),
//     package eventbus/natsbus (NATS JetStream), package
//     eventbus/rabbitbus (RabbitMQ), package eventbus/redisbus (Redis
//     Streams) and package eventbus/sqlbus (PostgreSQL or SQLite as the
//     broker).
//   - [Router] subscribes a consumer group, runs [Handler]s with bounded
//     concurrency and acknowledges, retries or dead-letters each delivery
//     according to the handler's result: nil acks, an error retries and
//     an error marked by retry.Permanent (package retry, the toolkit's
//     one "do not retry") dead-letters at once; [FateOf] is that
//     decision, in one place. [On] registers a typed handler.
//   - [Router.HandleBatch] and [OnBatch] register a [BatchHandler], which
//     receives up to a batch of messages in one call and names the ones
//     that failed in a [BatchError]; each message is settled alone.
//     Adapters that fetch in batches implement the optional
//     [BatchSubscription]; [FetchBatch] gathers from Next for the others.
//   - [Middleware] wraps handlers, given to a router with [WithMiddleware]
//     (or to one handler with [HandlerMiddleware]): [Recover], [Timeout],
//     [Retry], [DeadLetter] and [Correlate]; package
//     eventbus/eventbusmetrics counts deliveries in Prometheus and package
//     eventbus/eventbustrace adds OpenTelemetry spans from publisher to
//     handler.
//   - Around the bus: package eventbus/outbox writes events in the
//     business transaction and relays them (the transactional outbox), with
//     an SQL inbox for consumers; package eventbus/inbox is an in-memory
//     dedupe middleware; package eventbus/dlq keeps dead letters in SQL to
//     list and replay them (command cmd/microkit-dlq).
//   - Package eventbus/eventbustest is the conformance suite every adapter
//     passes.
//
// Event types are dot-separated tokens such as "order.created". A pattern
// matches types token by token: "*" matches exactly one token and ">" (last
// only) matches one or more trailing tokens, as in NATS subjects.
package eventbus
