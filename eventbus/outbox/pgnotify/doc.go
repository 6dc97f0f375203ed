// Package pgnotify wakes an outbox relay through PostgreSQL's
// LISTEN/NOTIFY, so that it publishes an event right after the transaction
// that added it commits instead of at its next poll.
//
// outbox.Migrate installs a trigger that sends NOTIFY on a channel named
// after the outbox table whenever rows are added (by any writer, in any
// process); a [Listener] LISTENs on it through pgx's stdlib driver and is
// an outbox.Waker:
//
//	l := pgnotify.New(db, outbox.DefaultTable)
//	defer l.Close(ctx) // after the relay's Run returned
//	relay, err := outbox.NewRelay(db, sqldialect.Postgres, bus, outbox.WithWaker(l))
//
// Polling remains the safety net: a notification lost while the listening
// connection was down only delays events to the next poll.
package pgnotify
