package eventbustrace_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/eventbustrace"
	"github.com/go-microkit/microkit/eventbus/memory"
	"go.opentelemetry.io/otel/trace"
)

// TestBatchSpanPerMessage: under a batch handler each message has its
// own consumer span, in the trace of its publisher, and the batch handler
// finds it in the message's own context (BatchInfo.Context).
func TestBatchSpanPerMessage(t *testing.T) {
	sr, tp, tr := recorder(t)
	b, _ := memory.New()
	defer b.Close(context.Background())
	pub := eventbustrace.Publisher(b, "memory", eventbustrace.WithTracer(tr))
	r, _ := eventbus.NewRouter(b, "g", eventbus.WithLogger(slog.New(slog.DiscardHandler)), eventbus.WithMiddleware(
		eventbustrace.Middleware("memory", eventbustrace.WithTracer(tr))))
	seen := make(chan []trace.SpanContext, 1)
	_ = r.HandleBatch("job.run", func(ctx context.Context, msgs []*eventbus.Message) error {
		info, _ := eventbus.BatchFromContext(ctx)
		var scs []trace.SpanContext
		for i := range msgs {
			scs = append(scs, trace.SpanContextFromContext(info.Context(i)))
		}
		seen <- scs
		return nil
	}, eventbus.HandlerBatchSize(3), eventbus.HandlerBatchWait(time.Hour)) // the batch waits for all three
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var traces []trace.TraceID
	for i := range 3 {
		ctx, span := tp.Tracer("test").Start(context.Background(), "request")
		traces = append(traces, span.SpanContext().TraceID())
		m, _ := eventbus.NewMessage("job.run", i)
		if err := pub.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		span.End()
	}
	scs := <-seen
	_ = r.Close(context.Background())
	if len(scs) != 3 {
		t.Fatalf("batch of %d, want 3", len(scs))
	}
	consumers := map[trace.SpanID]trace.TraceID{}
	for _, s := range sr.Ended() {
		if s.SpanKind() == trace.SpanKindConsumer {
			consumers[s.SpanContext().SpanID()] = s.SpanContext().TraceID()
		}
	}
	if len(consumers) != 3 {
		t.Fatalf("%d consumer spans, want one per message", len(consumers))
	}
	for i, sc := range scs {
		if consumers[sc.SpanID()] != traces[i] {
			t.Errorf("message %d: its context's span %v is not its consumer span in trace %v", i, sc.SpanID(), traces[i])
		}
	}
}
