// Package sqlbus is the eventbus adapter that uses the application's SQL
// database as the broker: PostgreSQL, or SQLite for a one-process
// deployment. A Bus is an eventbus.Publisher and an eventbus.Subscriber,
// so routers, middleware and the conformance suite work on it as on
// natsbus or rabbitbus, with no broker to run.
//
// Start with Migrate (the tables) and New (the bus on your *sql.DB), then
// publish through the Bus, or through PublishTx inside your own
// transaction, and consume through an eventbus.Router. The guide is
// docs/sqlbus.md.
//
// How the eventbus promises map onto tables:
//
//   - Durability: Publish returns once the messages committed. The
//     messages of one publish statement (concurrent Publish calls share
//     it) are stored together, as one row: a pack. PublishTx writes them
//     in the caller's transaction, so an event commits, or rolls back,
//     with the business change it describes: no outbox and no relay.
//   - Consumer groups: each (group, pattern) has a row with a cursor over
//     the packs. A claim takes the packs after it, records them as one
//     claim row per pack (the messages it holds as the bits of a mask)
//     and moves the cursor. On PostgreSQL the packs are read in the order
//     of their transaction ids, and the cursor moves only over packs
//     whose transaction is older than every transaction still running,
//     so that a transaction that commits late is never skipped; a pack
//     that committed ahead of one still running is claimed at once and
//     marked. Instances of a group claim with FOR UPDATE SKIP LOCKED
//     (PostgreSQL) or in a write transaction (SQLite), so they share the
//     work without waiting for each other.
//   - Redelivery: a claim sets the row's visibility timeout (WithAckWait)
//     and counts the attempt; a delivery not settled by then (a crashed
//     consumer) is claimed again, with the next attempt. Nack(delay) makes
//     it visible after delay, in a row of its own; Ack and Term delete it
//     (its bit, then the claim row once empty). The attempt count is
//     also the claim's token: a consumer whose timeout ran out cannot
//     settle the next instance's claim (ErrStaleDelivery).
//   - Wake-ups: a publish wakes the subscriptions of its own bus at once;
//     on PostgreSQL a NOTIFY sent by the publish's commit wakes those of
//     every process whose bus has a pgnotify.Listener as its Waker
//     (WithWaker). Polling (WithPollInterval) covers the rest.
//   - Retention: a message that every group consumed is deleted after
//     WithRetention's keep; WithMaxAge bounds what groups that stopped
//     consuming hold back; DeleteGroup forgets a group for good.
//
// Round trips: one statement publishes a batch (concurrent Publish calls
// share it), one claims and fetches the packs for the prefetch, and one
// acknowledges the acks of concurrent workers together. On PostgreSQL,
// claims, acks, nacks and releases commit without waiting for the disk
// (synchronous_commit off for their transaction alone): a crash of the
// server may forget the last of them, which means redeliveries, as a lost
// ack does with any broker. Publishes wait for the disk.
//
// The package compiles no database driver: the program imports one (pgx's
// stdlib driver, modernc.org/sqlite) and opens the *sql.DB.
//
// Deliveries follow publishing order loosely: a claim takes the oldest
// packs first, but the instances of a group, the workers of a
// router and redeliveries overtake each other, so the bus does not promise
// per-subject order.
package sqlbus
