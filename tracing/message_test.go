package tracing_test

import (
	"context"
	"errors"
	"testing"

	"github.com/go-microkit/microkit/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

var orderCreated = tracing.MessageInfo{
	System:      "nats",
	Destination: "orders.created",
	ID:          "msg-1",
	BodySize:    42,
}

// publish starts a producer span under a "PlaceOrder" span, injects it into
// fresh metadata and ends both, as a bus publisher does.
func publish(t *testing.T, tr *tracing.Tracer, ctx context.Context, info tracing.MessageInfo) map[string]string {
	t.Helper()
	md := map[string]string{"content-type": "application/json"}
	err := tr.Do(ctx, "PlaceOrder", func(ctx context.Context) error {
		ctx, span := tr.StartPublish(ctx, info)
		defer span.End()
		tr.Inject(ctx, md)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return md
}

func TestMessagePublishToProcessIsOneTrace(t *testing.T) {
	tr, rec, _ := newRecorded(t)
	md := publish(t, tr, t.Context(), orderCreated)
	if md["traceparent"] == "" || md["content-type"] != "application/json" {
		t.Fatalf("metadata after Inject = %v, want traceparent added and content-type kept", md)
	}

	consumed := orderCreated
	consumed.ConsumerGroup = "billing"
	consumed.Attempt = 3
	ctx, span := tr.StartProcess(context.Background(), consumed, md)
	tracing.MessageAcked(ctx)
	span.End()

	send := spanNamed(t, rec, "send orders.created")
	process := spanNamed(t, rec, "process orders.created")
	place := spanNamed(t, rec, "PlaceOrder")

	if send.SpanKind() != trace.SpanKindProducer || process.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("kinds = %v, %v; want producer, consumer", send.SpanKind(), process.SpanKind())
	}
	if send.Parent().SpanID() != place.SpanContext().SpanID() {
		t.Errorf("send parent = %v, want PlaceOrder %v", send.Parent().SpanID(), place.SpanContext().SpanID())
	}
	if process.SpanContext().TraceID() != send.SpanContext().TraceID() {
		t.Errorf("process trace = %v, want the publisher's %v", process.SpanContext().TraceID(), send.SpanContext().TraceID())
	}
	if process.Parent().SpanID() != send.SpanContext().SpanID() || !process.Parent().IsRemote() {
		t.Errorf("process parent = %v (remote %v), want the send span %v, remote",
			process.Parent().SpanID(), process.Parent().IsRemote(), send.SpanContext().SpanID())
	}
	if links := process.Links(); len(links) != 1 || links[0].SpanContext.SpanID() != send.SpanContext().SpanID() {
		t.Errorf("process links = %v, want one link to the send span", links)
	}

	wantSend := map[attribute.Key]any{
		"messaging.system":            "nats",
		"messaging.destination.name":  "orders.created",
		"messaging.message.id":        "msg-1",
		"messaging.message.body.size": int64(42),
		"messaging.operation.type":    "send",
		"messaging.operation.name":    "send",
	}
	assertAttrs(t, "send", attrMap(send.Attributes()), wantSend)
	wantProcess := map[attribute.Key]any{
		"messaging.system":              "nats",
		"messaging.destination.name":    "orders.created",
		"messaging.message.id":          "msg-1",
		"messaging.message.body.size":   int64(42),
		"messaging.operation.type":      "process",
		"messaging.operation.name":      "process",
		"messaging.consumer.group.name": "billing",
		tracing.AttemptKey:              int64(3),
	}
	assertAttrs(t, "process", attrMap(process.Attributes()), wantProcess)

	if ev := process.Events(); len(ev) != 1 || ev[0].Name != tracing.EventAck {
		t.Errorf("process events = %v, want one %q", ev, tracing.EventAck)
	}
	if process.Status().Code != codes.Unset {
		t.Errorf("acked process status = %v, want Unset", process.Status())
	}
}

func assertAttrs(t *testing.T, span string, got, want map[attribute.Key]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s attributes = %v, want %v", span, got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s attribute %s = %v (%T), want %v (%T)", span, k, got[k], got[k], v, v)
		}
	}
}

func TestStartProcessParents(t *testing.T) {
	tests := []struct {
		name          string
		localParent   bool
		withMessage   bool
		wantParent    string // "local", "creation" or "" (root)
		wantLinkToPub bool
	}{
		{name: "message only", withMessage: true, wantParent: "creation", wantLinkToPub: true},
		{name: "local span and message", localParent: true, withMessage: true, wantParent: "local", wantLinkToPub: true},
		{name: "local span, message without context", localParent: true, wantParent: "local"},
		{name: "neither", wantParent: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, rec, _ := newRecorded(t)
			md := map[string]string{}
			if tt.withMessage {
				md = publish(t, tr, t.Context(), orderCreated)
			}
			ctx := context.Background()
			var local trace.Span
			if tt.localParent {
				ctx, local = tr.TracerProvider().Tracer("test").Start(ctx, "receive batch")
			}
			_, span := tr.StartProcess(ctx, orderCreated, md)
			span.End()
			if local != nil {
				local.End()
			}

			process := spanNamed(t, rec, "process orders.created")
			switch tt.wantParent {
			case "local":
				if process.Parent().SpanID() != local.SpanContext().SpanID() {
					t.Errorf("parent = %v, want the local span %v", process.Parent().SpanID(), local.SpanContext().SpanID())
				}
			case "creation":
				send := spanNamed(t, rec, "send orders.created")
				if process.Parent().SpanID() != send.SpanContext().SpanID() {
					t.Errorf("parent = %v, want the send span %v", process.Parent().SpanID(), send.SpanContext().SpanID())
				}
			default:
				if process.Parent().IsValid() {
					t.Errorf("parent = %v, want a root span", process.Parent())
				}
			}
			links := process.Links()
			if !tt.wantLinkToPub {
				if len(links) != 0 {
					t.Errorf("links = %v, want none", links)
				}
				return
			}
			send := spanNamed(t, rec, "send orders.created")
			if len(links) != 1 || links[0].SpanContext.SpanID() != send.SpanContext().SpanID() {
				t.Errorf("links = %v, want one to the send span %v", links, send.SpanContext().SpanID())
			}
		})
	}
}

func TestMessageSettlementEvents(t *testing.T) {
	errDecode := errors.New("decode: bad json")
	tests := []struct {
		name       string
		settle     func(context.Context)
		wantEvent  string
		wantAttrs  map[attribute.Key]any
		wantStatus codes.Code
	}{
		{
			name:       "ack",
			settle:     tracing.MessageAcked,
			wantEvent:  "ack",
			wantAttrs:  map[attribute.Key]any{},
			wantStatus: codes.Unset,
		},
		{
			name:      "nack",
			settle:    func(ctx context.Context) { tracing.MessageNacked(ctx, errDecode) },
			wantEvent: "nack",
			wantAttrs: map[attribute.Key]any{
				"error.type":        "*errors.errorString",
				"exception.message": "decode: bad json",
			},
			wantStatus: codes.Error,
		},
		{
			name:       "nack without error",
			settle:     func(ctx context.Context) { tracing.MessageNacked(ctx, nil) },
			wantEvent:  "nack",
			wantAttrs:  map[attribute.Key]any{},
			wantStatus: codes.Unset,
		},
		{
			name:       "dead letter",
			settle:     func(ctx context.Context) { tracing.MessageDeadLettered(ctx, "max attempts (5) reached") },
			wantEvent:  "dead_letter",
			wantAttrs:  map[attribute.Key]any{tracing.DeadLetterReasonKey: "max attempts (5) reached"},
			wantStatus: codes.Unset,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, rec, _ := newRecorded(t)
			ctx, span := tr.StartProcess(t.Context(), orderCreated, nil)
			tt.settle(ctx)
			span.End()
			process := spanNamed(t, rec, "process orders.created")
			ev := process.Events()
			if len(ev) != 1 || ev[0].Name != tt.wantEvent {
				t.Fatalf("events = %v, want one %q", ev, tt.wantEvent)
			}
			assertAttrs(t, tt.wantEvent, attrMap(ev[0].Attributes), tt.wantAttrs)
			if process.Status().Code != tt.wantStatus {
				t.Errorf("status = %v, want %v", process.Status().Code, tt.wantStatus)
			}
		})
	}
}

func TestMessageCarriesBaggage(t *testing.T) {
	tr, _, _ := newRecorded(t)
	member, err := baggage.NewMember("tenant", "acme")
	if err != nil {
		t.Fatal(err)
	}
	bag, err := baggage.New(member)
	if err != nil {
		t.Fatal(err)
	}
	md := publish(t, tr, baggage.ContextWithBaggage(t.Context(), bag), orderCreated)
	ctx, span := tr.StartProcess(context.Background(), orderCreated, md)
	defer span.End()
	if got := baggage.FromContext(ctx).Member("tenant").Value(); got != "acme" {
		t.Errorf("consumer baggage tenant = %q, want acme", got)
	}
}

func TestMessageSpanNameWithoutDestination(t *testing.T) {
	tr, rec, _ := newRecorded(t)
	_, span := tr.StartPublish(t.Context(), tracing.MessageInfo{System: "memory"})
	span.End()
	send := spanNamed(t, rec, "send")
	if _, ok := attrMap(send.Attributes())["messaging.destination.name"]; ok {
		t.Errorf("attributes = %v, want no empty destination", send.Attributes())
	}
}

func TestMessageHelpersWithoutProviderAreNoOps(t *testing.T) {
	tr, err := tracing.New(tracing.WithTracerProvider(noop.NewTracerProvider()), tracing.WithPropagator(w3c))
	if err != nil {
		t.Fatal(err)
	}
	md := map[string]string{}
	ctx, span := tr.StartPublish(t.Context(), orderCreated)
	tr.Inject(ctx, md)
	span.End()
	if len(md) != 0 {
		t.Errorf("Inject with a no-op span wrote %v, want nothing", md)
	}
	ctx, span = tr.StartProcess(t.Context(), orderCreated, md)
	tracing.MessageAcked(ctx)
	tracing.MessageNacked(ctx, errors.New("x"))
	tracing.MessageDeadLettered(ctx, "y")
	span.End()
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Errorf("span = %v, want a non-recording invalid span", span.SpanContext())
	}
}
