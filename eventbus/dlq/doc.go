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
// An operator console works on the same store at any size: [Filter]
// selects entries by group, type pattern, original message, replay state
// and Search (a prefix of an entry's ID or of its message's), [Store.List]
// returns one page of them, oldest or (Filter.Newest) newest first, and
// the page's last entry's [Entry.Cursor] as Filter.After gives the next
// page, which skips and repeats nothing whatever is parked, replayed or
// deleted in between. [Store.Count] and [Store.Groups] give the overview's
// counts; [Store.ReplayMatching] and [Store.DeleteMatching] replay or
// discard every entry a Filter selects, a batch at a time, and return how
// many they did.
//
// [Store.Migrate] builds the indexes these run on. A page of the entries
// never replayed, all of them or those of one group or one type, newest
// or oldest first, at the start or deep behind a cursor, is an index scan
// that stops after the page, however many entries there are. A type
// pattern "a.b.>" is a range of the type index and one with '*' is first
// resolved to the types it matches (one index probe per distinct type);
// the entries of one message and a Search are ranges of the original-ID
// and ID indexes; these read only their matches, then sort them. With
// Filter.Replayed only the plain listing, OriginalID and Search keep their
// indexes: a group or type filter then walks the time index, and a '*'
// pattern reads the type of every entry. Count and Groups read an index
// entry (or a row, where the planner finds that cheaper) per entry they
// count. Figures for 100,000 entries on PostgreSQL are in
// docs/benchmarks.md.
//
// Every failure is an entry of its own, keyed by the dead letter's ID
// (unique per failure, see eventbus.DeadLetterID): two groups or two
// handlers that failed on one message leave two entries, and a replay
// that fails again leaves a new one. [Filter].OriginalID lists the
// entries of one message: with Filter.Replayed, its history.
//
// Replay republishes the original message (its type, its ID, its data and
// metadata, without the dead-letter entries), so every group subscribed to
// the type gets it again; groups that had handled it deduplicate it on its
// ID (package eventbus/inbox, outbox.Inbox). It carries
// eventbus.MetaReplay, unique to the replay, on which natsbus deduplicates
// it instead of its ID: JetStream, which drops a message whose ID it saw
// within its duplicate window, takes it as new.
package dlq
