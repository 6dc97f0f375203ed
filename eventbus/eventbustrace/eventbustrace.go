package eventbustrace

import (
	"context"
	"errors"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/tracing"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Option configures Publisher and Middleware.
type Option func(*config)

type config struct {
	tracer *tracing.Tracer
}

// WithTracer sets the tracing.Tracer (provider and propagator) to use.
// Default tracing.Default(), which follows the global OpenTelemetry
// providers.
func WithTracer(t *tracing.Tracer) Option {
	return func(c *config) {
		if t != nil {
			c.tracer = t
		}
	}
}

func configure(opts []Option) config {
	c := config{tracer: tracing.Default()}
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		o(&c)
	}
	return c
}

// Publisher wraps p so that each published message gets a PRODUCER span
// ("send <type>") whose context is injected into the message's Metadata
// (trace context and baggage; it sets entries on the caller's message). The
// spans end when p.Publish returns and carry its error. system names the
// broker in the spans' messaging.system attribute ("nats", "memory", ...).
func Publisher(p eventbus.Publisher, system string, opts ...Option) eventbus.Publisher {
	c := configure(opts)
	return eventbus.DecoratePublisher(p, func(ctx context.Context, msgs ...*eventbus.Message) error {
		spans := make([]trace.Span, 0, len(msgs))
		for _, m := range msgs {
			if m == nil {
				continue
			}
			sctx, span := c.tracer.StartPublish(ctx, tracing.MessageInfo{
				System: system, Destination: m.Type, ID: m.ID, BodySize: len(m.Data),
			})
			if m.Metadata == nil {
				m.Metadata = make(map[string]string, 2)
			}
			c.tracer.Inject(sctx, m.Metadata)
			spans = append(spans, span)
		}
		err := p.Publish(ctx, msgs...)
		for _, span := range spans {
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			span.End()
		}
		return err
	})
}

// Middleware starts a CONSUMER span ("process <type>") per delivery, child of
// the context the message carries, with the consumer group and attempt, and
// records how the delivery was settled: an "ack" event, a "nack" event with
// the error (it will be redelivered), or a "dead_letter" event with the
// reason (parked by DeadLetter, or failed permanently).
func Middleware(system string, opts ...Option) eventbus.Middleware {
	c := configure(opts)
	return func(next eventbus.Handler) eventbus.Handler {
		return func(ctx context.Context, msg *eventbus.Message) error {
			info := tracing.MessageInfo{System: system, Destination: msg.Type, ID: msg.ID, BodySize: len(msg.Data)}
			di, ok := eventbus.DeliveryFromContext(ctx)
			if ok {
				info.ConsumerGroup, info.Attempt = di.Group, di.Attempt
			}
			ctx, span := c.tracer.StartProcess(ctx, info, msg.Metadata)
			defer span.End()
			err := next(ctx, msg)
			switch fate := eventbus.FateOf(ctx, err); {
			case fate.Outcome == "deadletter":
				tracing.MessageDeadLettered(ctx, di.DeadLetterReason)
			case fate.Settle == eventbus.SettleAck:
				tracing.MessageAcked(ctx)
			case fate.Settle == eventbus.SettleTerm:
				tracing.MessageDeadLettered(ctx, err.Error())
				span.SetStatus(codes.Error, err.Error())
			default:
				cause := err
				var re *eventbus.RetryError
				if errors.As(err, &re) {
					cause = re.Err
				}
				tracing.MessageNacked(ctx, cause)
			}
			return err
		}
	}
}
