// Package pgnotify wakes outbox relays through PostgreSQL's
// LISTEN/NOTIFY, so that a relay publishes an event right after the
// transaction that added it commits instead of at its next poll, whichever
// process committed it.
//
// The producer sends the notification after its commit with a [Notifier];
// the relay's process LISTENs with a [Listener], an outbox.Waker. Both use
// the channel named after the outbox table:
//
//	// producer, after each commit that added events
//	n := pgnotify.NewNotifier(db, outbox.DefaultTable)
//	defer n.Close(ctx)
//	if err := tx.Commit(); err != nil { ... }
//	n.Notify()
//
//	// relay
//	l := pgnotify.New(db, outbox.DefaultTable)
//	defer l.Close(ctx) // after the relay's Run returned
//	relay, err := outbox.NewRelay(db, sqldialect.Postgres, bus, outbox.WithWaker(l))
//
// The Notifier sends NOTIFY in a statement of its own after the commit,
// without waiting for the WAL flush, and coalesces the calls made while it
// sends: a NOTIFY inside the producer's transaction would make every such
// transaction commit one at a time. Producers that cannot call a Notifier
// may have outbox.Migrate install a trigger that notifies in their
// transactions instead (outbox.WithNotifyTrigger), at that cost. A
// relay in the producer's own process can be woken by an outbox.Signal
// instead, without a round trip; a Listener hears the Notifiers of every
// process, its own included.
//
// Polling remains the safety net: a notification lost (a failed send, or
// sent while the listening connection was down) only delays events to the
// next poll.
package pgnotify
