// Package outboxtest checks scheduled publishing through an eventbus
// adapter: events added with outbox.AddAt on SQLite and PostgreSQL
// outboxes reach the adapter's subscribers once due and not before, in
// the order of their due times behind the unscheduled events, a
// far-future event holds nothing back, and events that fell due while no
// relay ran are published, in due order, by the next relay.
//
// Start with [RunScheduled], which the tests of packages eventbus/memory,
// eventbus/natsbus, eventbus/rabbitbus, eventbus/redisbus and
// eventbus/sqlbus call. The events pass through
// the adapter like any other: the outbox holds them until they are due,
// so the adapter needs nothing of its own for scheduling, and the
// scenarios check that its publisher keeps the relay's order.
package outboxtest
