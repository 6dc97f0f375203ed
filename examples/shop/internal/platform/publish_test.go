package platform

import (
	"context"
	"slices"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/tracing"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// callRecorder records each Publish call: the messages' IDs and the trace
// the call ran in.
type callRecorder struct {
	calls  [][]string
	traces []trace.TraceID
}

func (c *callRecorder) Publish(ctx context.Context, msgs ...*eventbus.Message) error {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	c.calls = append(c.calls, ids)
	c.traces = append(c.traces, trace.SpanContextFromContext(ctx).TraceID())
	return nil
}

func (c *callRecorder) Close(context.Context) error { return nil }

// tracedMessage is a message made in the request traced as id (none: zero).
func tracedMessage(t *testing.T, msgID string, id trace.TraceID) *eventbus.Message {
	t.Helper()
	m := &eventbus.Message{ID: msgID, Type: "order.created", Data: []byte("{}")}
	ctx := context.Background()
	if id.IsValid() {
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: id, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	InjectTrace(ctx, m)
	return m
}

// The relay's publisher sends each run of messages of one trace in one
// call, in that trace, and keeps the messages' order.
func TestPublishInTraces(t *testing.T) {
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })
	a, b := trace.TraceID{0xa}, trace.TraceID{0xb}
	msgs := []*eventbus.Message{
		tracedMessage(t, "1", a), tracedMessage(t, "2", a), tracedMessage(t, "3", a),
		tracedMessage(t, "4", b),
		tracedMessage(t, "5", trace.TraceID{}), tracedMessage(t, "6", trace.TraceID{}),
		tracedMessage(t, "7", a),
	}
	var rec callRecorder
	if err := publishInTraces(&rec).Publish(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"1", "2", "3"}, {"4"}, {"5", "6"}, {"7"}}
	if !slices.EqualFunc(rec.calls, want, slices.Equal[[]string]) {
		t.Fatalf("calls %v, want %v", rec.calls, want)
	}
	if wantTraces := []trace.TraceID{a, b, {}, a}; !slices.Equal(rec.traces, wantTraces) {
		t.Errorf("traces of the calls %v, want %v", rec.traces, wantTraces)
	}
	if got := tracing.Extract(context.Background(), msgs[3].Metadata); trace.SpanContextFromContext(got).TraceID() != b {
		t.Error("the message's metadata lost its trace")
	}
}
