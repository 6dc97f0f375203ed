// Package eventbustest is the conformance suite of eventbus adapters: one
// exported Run that every adapter's tests call against a real broker
// (packages eventbus/memory, eventbus/natsbus and eventbus/rabbitbus do).
//
// It checks what eventbus promises: publish and consume with every envelope
// field intact, pattern matching, fan-out across consumer groups and
// competing consumers within one, redelivery with counted attempts after a
// nack, no redelivery after Term, dead-lettering after the retry policy's
// last attempt while other messages keep flowing, per-subject order where the adapter promises it,
// Router.Close with messages in flight, redelivery of what a killed consumer
// held, Close(ctx) of a subscriber called twice at once or with a context
// already over, batches (eventbus.FetchBatch on the adapter's
// subscription, through its NextBatch where it has one, and a Router's
// batch handler whose batch fails in part or is in flight at Close), and, where the adapter's broker can be restarted, no
// message lost across a broker restart.
//
// [RunComposition] is the second suite: seeded, randomized scenarios that
// combine consumer groups, overlapping handler patterns, middleware orders
// and handler failures of every kind with consumer crashes and broker
// restarts, and check the delivery guarantees where those pieces meet.
//
// [RunBatchBenchmark] measures a batch handler against a single-message
// handler on an adapter.
//
// Start with Config, Run and RunComposition.
package eventbustest
