// Package orders is the shop's order-service: the classic "create order"
// handler and order saga made durable. The naive handler saves the order
// and then publishes its event (a crash between the two loses the event)
// and runs the saga in memory (a crash mid-saga leaves stock reserved and
// money charged); here the event commits with the order and the saga is
// recovered from its store.
//
// POST /orders validates the items through the product-service's gRPC
// ProductService (discovery + breaker), stores the pending order and its
// order.created event in one transaction (the transactional outbox of package
// eventbus/outbox, whose relay publishes them; see outbox.go), then runs the CreateOrderSaga on package saga over a SQL store
// in the same database:
//
//	order          (nothing to do; compensation cancels the order + order.cancelled)
//	reserve-stock  (product-service POST /reservations; compensation releases)
//	charge-payment (payment-service POST /charges behind a breaker; compensation refunds)
//	confirm        (order confirmed + order.confirmed, in one transaction)
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
