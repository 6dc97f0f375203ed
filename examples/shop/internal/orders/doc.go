// Package orders is the shop's order-service: the classic "create order"
// handler and order saga made durable. The naive handler saves the order
// and then publishes its event (a crash between the two loses the event)
// and runs the saga in memory (a crash mid-saga leaves stock reserved and
// money charged); here the event commits with the order and the saga is
// recovered from its store.
//
// POST /orders validates the items through the product-service's gRPC
// ProductService (discovery + breaker), stores the pending order and its
// order.created event in one transaction (the transactional outbox of
// package eventbus/outbox, whose relay publishes them), then runs the
// CreateOrderSaga on package saga over a SQL store in the same database:
//
//	order          (local: the order + order.created; compensation cancels it + order.cancelled)
//	reserve-stock  (product-service POST /reservations; compensation releases)
//	charge-payment (payment-service POST /charges behind a breaker, answered 202;
//	                then waits for payment.confirmed or payment.declined, up to
//	                PaymentDeadline; compensation refunds)
//	confirm        (local: confirmed + order.confirmed, and the shipment booked:
//	                the warehouse's shipment.dispatched scheduled ShipAfter later)
//	await-shipment (waits for shipment.dispatched, up to ShipDeadline)
//	ship           (local: shipped with the tracking number + order.shipped)
//
// A saga that waits is parked in the store (package saga's Step.Wait): no
// goroutine holds it, and the event that ends its wait (events.go: a
// router on the bus and package saga/sagabus) or its deadline (the timer
// loop) continues it in whichever instance. POST /orders answers once the
// saga parks, the order pending; with "Prefer: wait=<seconds>" it answers
// once the order is confirmed or cancelled.
//
// A cancelled order carries a [Reason]: a code and a sentence for the
// customer, decided where a step failed (reason.go). The technical error
// stays in the saga record and the log.
//
// Every participant dedupes on the step's idempotency key, so the recovery
// loop can finish, after a crash, the sagas a dead process left in flight.
//
// Start at [New]; GET /orders/{id} and GET /orders read orders.
package orders
