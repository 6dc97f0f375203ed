// Package redisbus is the Redis Streams adapter of package eventbus, on
// github.com/redis/go-redis/v9: a [Bus] is both an eventbus.Publisher and
// an eventbus.Subscriber, so a service uses it exactly like the memory,
// NATS or RabbitMQ bus and the eventbus.Router runs on it unchanged.
//
// Where to start: [Connect] (the bus owns the client) or [New] (you own
// it); Publish and Subscribe do the rest.
//
// How the eventbus promises map onto Redis Streams:
//
//   - One stream per bus (default key "events", see [WithStream]); each
//     entry holds the envelope as fields named after the CloudEvents
//     attributes, Metadata (trace context, correlation id, dead-letter
//     reason) as "meta:<key>" fields. Publish sends a batch in one
//     pipeline of XADDs and returns once Redis replied to each; through
//     disconnects and restarts it sends again what got no reply until its
//     context ends (a lost reply stores a message twice: consumers
//     deduplicate on its ID, see eventbus/inbox). Concurrent Publish calls
//     share pipelines: a call finding none of the bus's in flight sends
//     at once, and the calls that arrive meanwhile go together in the
//     next one, a round trip for all of them (no goroutine and no timer:
//     a lone call pays nothing for it). Each call gets its own messages'
//     outcome, stored in a row and in order.
//   - Consumer groups: each (group, pattern) pair is a Redis consumer group
//     named by [GroupName], created at the stream's end (or start, with
//     [WithStartFromOldest]); each subscription is a consumer of it reading
//     with XREADGROUP, so instances share the work and groups each get
//     every event. A group reads every entry of the stream and acknowledges
//     at once the entries whose type its pattern does not match. That is
//     the trade-off of one stream per bus: a pattern such as "order.*" or
//     ">" needs nothing to discover (one stream per type would need every
//     subscription to find the streams its pattern matches, and a type
//     first published while a group has no instance running would have no
//     group on its stream to keep it); the cost is that every group reads,
//     and acknowledges in batches, the entries of types it does not
//     handle. Give unrelated high-volume traffic a bus of its own.
//   - Redelivery: an entry stays in its group's pending entries list (PEL)
//     until acknowledged. Any instance claims (XAUTOCLAIM) an entry that
//     stayed unsettled for the claim min idle ([WithClaimMinIdle]), as
//     when its consumer died. Attempt is the entry's delivery counter in
//     the PEL, which the claim counts up: it counts across redeliveries,
//     consumers and restarts.
//   - Nack(delay) leaves the entry pending and marks it idle for the min
//     idle less the delay, so that a claim takes it once the delay has
//     passed; a delay is also recorded in a sorted set beside the stream
//     ("<stream>:delayed:<group>"), which the claim respects, so the delay
//     holds across a consumer restart and for delays longer than the min
//     idle. Nothing of it lives in the process.
//   - Term acknowledges the entry: it is never redelivered
//     (eventbus.DeadLetter published it as a dead letter first).
//   - Acks are queued and sent in batches (one XACK for many entries);
//     [WithConfirmedAcks] makes Ack wait for Redis's reply.
//   - Shutdown: closing a subscription sends its queued acks, then hands
//     what it read but did not settle back to its group, claimable at once
//     by any instance, and deletes its consumer from the group. The
//     consumers of processes that died are deleted by the other instances
//     once they own nothing and were not seen for ten times the claim min
//     idle (at least a minute).
//   - Bounded stream: [Bus.Trim] removes the oldest entries beyond the max
//     length ([WithMaxLen]) but never one a group has not acknowledged: it
//     stops at the safe MINID ([Bus.SafeMinID]), the lowest entry some
//     group still has pending (XPENDING) or has not read yet (XINFO
//     GROUPS). A bus that publishes trims every trim interval.
//
// Each subscription holds one connection of the client's pool for its
// blocking read: size the pool (redis.Options.PoolSize, "?pool_size=" in a
// URL given to Connect; 10 per CPU by default) above the number of
// subscriptions plus the commands in flight at once.
//
// Durability is Redis's: Publish returns once the entry is in the
// server's memory and, with appendonly persistence, in its append-only
// file, synced according to appendfsync (everysec by default: a crash of
// the machine may lose the last second; "always" loses nothing). A Redis
// restarted without persistence comes back empty: the stream, the groups
// with their pending entries and the delayed redeliveries are gone, and
// subscriptions create their groups again (from the stream's start) and go
// on with what is published from then on.
//
// Messages are stored in the order of a Publish call, but claims and
// delayed redeliveries reorder deliveries: the bus does not promise
// per-subject order of delivery.
package redisbus
