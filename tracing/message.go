package tracing

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// MessageInfo describes one message for span creation (OTel messaging semantic conventions).
type MessageInfo struct {
	System        string // messaging.system: "nats", "rabbitmq", "memory"
	Destination   string // messaging.destination.name: subject / routing key / event type
	ID            string // messaging.message.id
	ConsumerGroup string // messaging.consumer.group.name (consumer side)
	Attempt       int    // delivery attempt, 1-based (consumer side); 0 = unknown
	BodySize      int    // messaging.message.body.size
}

// Attribute keys and event names this package adds to message spans beyond
// the OpenTelemetry semantic conventions, which define no delivery-attempt
// attribute and no settlement events.
const (
	// AttemptKey holds the 1-based delivery attempt of a consumed message.
	AttemptKey = attribute.Key("microkit.messaging.delivery_attempt")
	// DeadLetterReasonKey holds why a message was dead-lettered.
	DeadLetterReasonKey = attribute.Key("microkit.messaging.dead_letter.reason")

	// EventAck names the span event [MessageAcked] adds.
	EventAck = "ack"
	// EventNack names the span event [MessageNacked] adds.
	EventNack = "nack"
	// EventDeadLetter names the span event [MessageDeadLettered] adds.
	EventDeadLetter = "dead_letter"
)

// StartPublish starts a PRODUCER span ("send <destination>", messaging.operation.type=send) and returns the ctx holding it; the caller then calls Inject(ctx, md) so the message carries the creation context.
//
// The caller ends the span once the broker has accepted (or refused) the
// message. StartPublish uses the global providers.
func StartPublish(ctx context.Context, info MessageInfo) (context.Context, trace.Span) {
	return defaultTracer.StartPublish(ctx, info)
}

// StartProcess extracts the creation context from md and starts a CONSUMER span "process <destination>" (messaging.operation.type=process) that is a CHILD of the creation context (so publisher → consumer is one trace) and also LINKS to it; if ctx already holds a span, that span is the parent and the link still points to the creation context. Attempt goes in an attribute.
//
// The returned ctx also holds the baggage the message carried. The caller
// ends the span when the handler has settled the message, after
// [MessageAcked], [MessageNacked] or [MessageDeadLettered].
func StartProcess(ctx context.Context, info MessageInfo, md map[string]string) (context.Context, trace.Span) {
	return defaultTracer.StartProcess(ctx, info, md)
}

// StartPublish starts a PRODUCER span from the Tracer's provider; see the
// package-level [StartPublish].
func (t *Tracer) StartPublish(ctx context.Context, info MessageInfo) (context.Context, trace.Span) {
	ctx, span := t.otelTracer().Start(ctx, sendNames.get(info.Destination), producerStart...)
	// Attributes are built only for a recording span, so that with no
	// provider installed a publish costs what the no-op API costs and no more.
	if span.IsRecording() {
		span.SetAttributes(info.attributes(semconv.MessagingOperationTypeSend, "send", false)...)
	}
	return ctx, span
}

// StartProcess starts a CONSUMER span from the Tracer's provider and
// extracts with its propagator; see the package-level [StartProcess].
func (t *Tracer) StartProcess(ctx context.Context, info MessageInfo, md map[string]string) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	local := parent.SpanContext().IsValid()
	if local {
		// Hide the local span while extracting, so that a message without
		// trace context does not pass the local span off as its creator.
		ctx = trace.ContextWithSpanContext(ctx, trace.SpanContext{})
	}
	msgCtx := t.Extract(ctx, md)
	creation := trace.SpanContextFromContext(msgCtx)
	if local {
		// The local span stays the parent; the message's baggage is kept.
		msgCtx = trace.ContextWithSpan(msgCtx, parent)
	}
	ctx, span := t.otelTracer().Start(msgCtx, processNames.get(info.Destination), consumerStart...)
	if span.IsRecording() {
		span.SetAttributes(info.attributes(semconv.MessagingOperationTypeProcess, "process", true)...)
		if creation.IsValid() {
			span.AddLink(trace.Link{SpanContext: creation})
		}
	}
	return ctx, span
}

// MessageAcked adds the event "ack" to the span in ctx: the consumer
// settled the message as done.
func MessageAcked(ctx context.Context) {
	trace.SpanFromContext(ctx).AddEvent(EventAck)
}

// MessageNacked adds the event "nack" to the span in ctx, with err as its
// error.type and exception.message attributes, and sets the span's status to
// Error: the message will be delivered again.
func MessageNacked(ctx context.Context, err error) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if err == nil {
		span.AddEvent(EventNack)
		return
	}
	span.AddEvent(EventNack, trace.WithAttributes(
		semconv.ErrorTypeKey.String(fmt.Sprintf("%T", err)),
		semconv.ExceptionMessage(err.Error()),
	))
	span.SetStatus(codes.Error, err.Error())
}

// MessageDeadLettered adds the event "dead_letter" to the span in ctx, with
// reason in the [DeadLetterReasonKey] attribute: the message will not be
// delivered again.
func MessageDeadLettered(ctx context.Context, reason string) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.AddEvent(EventDeadLetter, trace.WithAttributes(DeadLetterReasonKey.String(reason)))
}

// attributes returns the semantic-convention attributes of a message span.
// Empty fields are left out rather than recorded as empty strings.
func (m MessageInfo) attributes(opType attribute.KeyValue, opName string, consumer bool) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs, opType, semconv.MessagingOperationName(opName))
	if m.System != "" {
		attrs = append(attrs, semconv.MessagingSystemKey.String(m.System))
	}
	if m.Destination != "" {
		attrs = append(attrs, semconv.MessagingDestinationName(m.Destination))
	}
	if m.ID != "" {
		attrs = append(attrs, semconv.MessagingMessageID(m.ID))
	}
	if m.BodySize > 0 {
		attrs = append(attrs, semconv.MessagingMessageBodySize(m.BodySize))
	}
	if consumer && m.ConsumerGroup != "" {
		attrs = append(attrs, semconv.MessagingConsumerGroupName(m.ConsumerGroup))
	}
	if consumer && m.Attempt > 0 {
		attrs = append(attrs, AttemptKey.Int(m.Attempt))
	}
	return attrs
}
