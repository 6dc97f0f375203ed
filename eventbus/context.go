package eventbus

import "context"

// DeliveryInfo describes the delivery a handler is running for. The Router
// puts it in the handler's context; middleware reads it with
// DeliveryFromContext.
type DeliveryInfo struct {
	// Group is the router's consumer group.
	Group string
	// Pattern is the pattern the handler was registered for.
	Pattern string
	// Handler is the handler's name (its pattern unless named).
	Handler string
	// Attempt is the 1-based delivery count from the broker.
	Attempt int
	// Message is the delivered message.
	Message *Message
	// DeadLetterReason is set by the DeadLetter middleware when it parked
	// the message, so that middleware outside it (tracing) can tell a
	// parked message from a handled one: both return nil.
	DeadLetterReason string
}

type deliveryKey struct{}

// ContextWithDelivery returns a copy of ctx that carries info. The Router
// calls it; tests of middleware may too.
func ContextWithDelivery(ctx context.Context, info *DeliveryInfo) context.Context {
	return context.WithValue(ctx, deliveryKey{}, info)
}

// deliveryContext carries a DeliveryInfo in the same allocation as the
// context node, one allocation per delivery instead of two on the router's
// hot path.
type deliveryContext struct {
	context.Context
	info DeliveryInfo
	slot *batchSlot // the message's place in its batch, for a batch handler
}

func (c *deliveryContext) Value(key any) any {
	switch key {
	case deliveryKey{}:
		return &c.info
	case batchSlotKey{}:
		if c.slot != nil {
			return c.slot
		}
	}
	return c.Context.Value(key)
}

// DeliveryFromContext returns the delivery a handler runs for, if any.
func DeliveryFromContext(ctx context.Context) (*DeliveryInfo, bool) {
	info, ok := ctx.Value(deliveryKey{}).(*DeliveryInfo)
	return info, ok
}

// attemptFrom returns the delivery attempt in ctx, 1 when unknown.
func attemptFrom(ctx context.Context) int {
	if info, ok := DeliveryFromContext(ctx); ok && info.Attempt > 0 {
		return info.Attempt
	}
	return 1
}
