// Package dlq keeps dead-lettered messages in a SQL table so that an
// operator can list them with their reason and replay chosen ones to their
// original type once the cause is fixed.
//
// It implements the Dead Letter Channel's other half: eventbus.DeadLetter
// parks a message that failed for good as "deadletter.<type>" with its
// reason, attempts, group and handler in Metadata; a [Store] collects those
// (its [Store.Handler] on a router subscribed to "deadletter.>"), and
// [Store.List], [Store.Get], [Store.Replay] and [Store.Delete] work on them.
// Command cmd/microkit-dlq does the same from a shell. On RabbitMQ the
// broker's own dead-letter queue (rejected deliveries, undecodable
// messages) is moved into the same store by
// rabbitbus.Bus.DrainDeadLetters with [Store.Handler], so one store lists
// and replays every dead letter.
//
// Where to start: [New], [Store.Migrate], then run [Store.Handler] in a router of
// its own group:
//
//	store, _ := dlq.New(db, sqldialect.Postgres)
//	router, _ := eventbus.NewRouter(bus, "microkit-dlq")
//	_ = router.Handle(eventbus.DeadLetterPrefix+">", store.Handler())
//
// Every failure is an entry of its own, keyed by the dead letter's ID
// (unique per failure, see eventbus.DeadLetterID): two groups or two
// handlers that failed on one message leave two entries, and a replay
// that fails again leaves a new one. [Filter].OriginalID lists the
// entries of one message.
//
// Replay republishes the original message (its type, its ID, its data and
// metadata, without the dead-letter entries), so every group subscribed to
// the type gets it again; groups that had handled it deduplicate it on its
// ID (package eventbus/inbox, outbox.Inbox). It carries
// eventbus.MetaReplay, unique to the replay, on which natsbus deduplicates
// it instead of its ID: JetStream, which drops a message whose ID it saw
// within its duplicate window, takes it as new.
package dlq
