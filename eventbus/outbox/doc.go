// Package outbox closes the dual-write problem of a service that changes its
// database and publishes an event about it: the transactional outbox writes
// the event into the database in the same transaction as the business
// change, and a [Relay] publishes it to the broker afterwards; the inbox
// ([Inbox]) records each handled message in the same transaction as the
// handler's own changes, so a redelivered message has no second effect.
//
// It implements the Transactional Outbox and Idempotent Consumer (inbox)
// patterns on database/sql, for PostgreSQL (pgx's stdlib driver) and
// SQLite (modernc.org/sqlite, the embedded default), named by the
// [sqldialect.Dialect] that Migrate, NewRelay and NewInbox take, as every
// SQL store of the module does (see package sqldialect for the versions
// they need, the SQLite data source name and the pool size).
//
// Where to start:
//
//   - [Migrate] creates the outbox and inbox tables; run it at start-up.
//   - [Add] (or [Outbox.Add] for a custom table) writes events inside the
//     caller's *sql.Tx; commit that transaction and the events are as
//     durable as the business rows, or roll it back and they never existed.
//   - [AddAt] and [AddAfter] (and [Outbox.AddAt], [Outbox.AddAfter])
//     schedule events: the outbox holds them until they are due, and the
//     relay publishes them then through its publisher, so delayed
//     publishing works on every broker and survives restarts (see
//     "Scheduled events" below).
//   - [NewRelay] and [Relay.Run] publish committed events through any
//     eventbus.Publisher in order per Subject and mark them sent; on
//     PostgreSQL several relays may serve one table, one publishing at a
//     time under an advisory lock and the others standing by. A producer
//     wakes an idle relay after its commit instead of leaving it to its
//     next poll: with a [Signal] in the relay's process, or with package
//     eventbus/outbox/pgnotify's Notifier, whose LISTEN/NOTIFY reaches a
//     pgnotify.Listener in any process. Sent rows are pruned on a
//     schedule. [WithListener] tells [Listener]s of every round that
//     published or failed and of every prune; package
//     eventbus/outbox/outboxmetrics turns them into Prometheus metrics, so
//     that this package compiles nothing of Prometheus.
//   - [NewInbox] and [Inbox.Handler] wrap a handler that takes the *sql.Tx
//     it must make its changes in; package eventbus/inbox is the in-memory
//     counterpart for handlers without a database. [WithGroupCommit] makes
//     an inbox handle concurrent deliveries in shared transactions: one
//     statement marks a batch, its handlers run one after another, one
//     commit; a handler that fails rolls the batch back and the other
//     deliveries are processed again one transaction each (their handlers
//     run twice, the first run rolled back). On SQLite, whose single
//     writer syncs the disk at every commit, that multiplies a concurrent
//     consumer's throughput; on PostgreSQL, which already shares the WAL
//     flush of concurrent commits, a delivery costs round trips, and the
//     handlers' serialized round trips can cost more than it saves.
//
// # Scheduled events
//
// A relay publishes the events that are due: those of Add at once, those
// of AddAt once its clock (time.Now of the relay's process; in tests, the
// fake clock of a testing/synctest bubble) reaches their time. Unscheduled
// events go first, in the order they were added; then the due scheduled
// events in the order of their due times, ties in the order added. So
// within one subject the events of Add keep their order, and a scheduled
// event goes out once due, behind the events of its subject that wait
// then; it never holds back any other event, however far ahead it is due.
//
// Precision: an idle relay sleeps until the earliest due time (or its poll
// interval, if sooner) and publishes an event within a round's latency of
// its due time, typically a few milliseconds. It learns of an event added
// after its last round when a Waker wakes it (pgnotify, Signal) or at its
// next poll: without a Waker, an event added by another process less than
// a poll interval before its due time is published up to a poll interval
// late. A relay behind a backlog of due events publishes scheduled ones in
// their turn. Events that fell due while no relay ran (or the database or
// broker was down) are published when a relay runs again, in due order.
// A due time written by AddAfter is read from the adding process's clock:
// a skew between it and the relay's clock shifts the publish by as much.
//
// [ReadBacklog] counts the due events (Pending) apart from the scheduled
// ones that are not due yet (Scheduled, with NextDueAt).
//
// The guarantees are at-least-once publishing (a relay that dies after
// publishing and before marking re-publishes: consumers deduplicate on
// Message.ID, which the inbox does) and exactly-once effects with the inbox.
package outbox
