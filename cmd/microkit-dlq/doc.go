// Command microkit-dlq lists the messages that eventbus consumers
// dead-lettered, with their reason, and replays chosen ones to their
// original type once the cause is fixed.
//
// Dead-lettered messages are kept in a SQL table (package eventbus/dlq) by
// a collector, which this command can run too:
//
//	microkit-dlq -db 'postgres://...' -broker amqp://guest:guest@localhost:5672/ collect
//	microkit-dlq -db 'postgres://...' list [-type order.>] [-group billing] [-original ID] [-all] [-json]
//	microkit-dlq -db 'postgres://...' show ID
//	microkit-dlq -db 'postgres://...' -broker amqp://... replay ID...
//	microkit-dlq -db 'postgres://...' delete ID...
//	microkit-dlq -db 'postgres://...' -broker amqp://... drain
//
// On RabbitMQ, dead letters also gather in the broker's own dead-letter
// queue: deliveries rejected with Delivery.Term rather than parked by
// eventbus.DeadLetter, messages no consumer could decode, messages a
// queue's limits dropped. drain moves them into the table (see
// rabbitbus.Bus.DrainDeadLetters), and collect does so at once and every
// -drain-every (10s), so that list, show, replay and delete work on every
// dead letter alike.
//
// -db is a PostgreSQL URL (postgres:// or postgresql://, through pgx) or a
// SQLite file path; -dialect (postgres or sqlite) says which when -db does
// not, as for a PostgreSQL DSN in keyword/value form:
//
//	microkit-dlq -dialect postgres -db 'host=db1 dbname=shop user=ops' list
//
// -broker is a RabbitMQ (amqp://, amqps://) or NATS (nats://) URL;
// -exchange names the RabbitMQ exchange (default domain_events) and -stream
// the NATS stream.
package main
