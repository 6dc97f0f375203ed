// Package memory is an in-process event bus: the embedded default for a
// single binary and the test double for code written against
// eventbus.Publisher and eventbus.Subscriber.
//
// It is not a toy: it keeps the brokers' semantics, and passes the same
// conformance suite (eventbus/eventbustest) as the NATS adapter. Start with
// New, then publish through the Bus and consume through an eventbus.Router.
//
//   - Consumer groups: each (group, pattern) pair is a durable queue created
//     by its first Subscribe; instances subscribed to the same pair compete
//     for its messages, every other group gets its own copy. Messages
//     published before any group matches their type are dropped, as on a
//     broker topic without queues.
//   - Redelivery: a nacked delivery is redelivered after its delay; a
//     delivery not settled when its subscription or client closes is
//     redelivered at once to another instance. Attempts are counted.
//   - Ordering per subject: a message is never delivered while an earlier
//     message with the same non-empty Subject in the same queue is unsettled
//     (in flight or waiting to be redelivered), even with many workers.
//
// Messages live in memory only: they do not survive the process.
package memory
