package eventbustrace_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/eventbustrace"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/natsbus/natstest"
	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/tracing"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

type bus interface {
	eventbus.Publisher
	eventbus.Subscriber
}

func buses(t *testing.T) map[string]bus {
	mem, err := memory.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mem.Close(context.Background()) })
	srv := natstest.Run(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nb, err := natsbus.Connect(ctx, srv.URL(), natsbus.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nb.Close(context.Background()) })
	return map[string]bus{"memory": mem, "nats": nb}
}

func recorder(t *testing.T) (*tracetest.SpanRecorder, *sdktrace.TracerProvider, *tracing.Tracer) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tr, err := tracing.New(tracing.WithTracerProvider(tp), tracing.WithPropagator(propagation.TraceContext{}))
	if err != nil {
		t.Fatal(err)
	}
	return sr, tp, tr
}

// One trace runs from the request that publishes, through the broker, to
// the handler, and the handler's retry and dead letter show on its spans.
func TestOneTraceFromPublisherToHandler(t *testing.T) {
	for name, b := range buses(t) {
		t.Run(name, func(t *testing.T) {
			sr, tp, tr := recorder(t)
			pub := eventbustrace.Publisher(b, name, eventbustrace.WithTracer(tr))
			r, err := eventbus.NewRouter(b, "billing", eventbus.WithLogger(slog.New(slog.DiscardHandler)), eventbus.WithMiddleware(
				eventbustrace.Middleware(name, eventbustrace.WithTracer(tr)),
				eventbus.DeadLetter(pub, eventbus.DeadLetterLogger(slog.New(slog.DiscardHandler))),
				eventbus.Retry(retry.Policy{MaxAttempts: 2, Backoff: retry.Backoff{Initial: time.Millisecond, Jitter: retry.NoJitter}}),
			))
			if err != nil {
				t.Fatal(err)
			}
			handled := make(chan trace.SpanContext, 1)
			attempts := 0
			if err := r.Handle("order.>", func(ctx context.Context, m *eventbus.Message) error {
				attempts++
				if attempts == 1 {
					return errors.New("try again")
				}
				handled <- trace.SpanContextFromContext(ctx)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := r.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Close(context.Background()) })

			reqCtx, req := tp.Tracer("test").Start(ctx, "POST /orders")
			m, _ := eventbus.NewMessage("order.created", map[string]string{"orderId": "o-1"})
			if err := pub.Publish(reqCtx, m); err != nil {
				t.Fatal(err)
			}
			req.End()
			var handlerSpan trace.SpanContext
			select {
			case handlerSpan = <-handled:
			case <-time.After(20 * time.Second):
				t.Fatal("handler did not run")
			}
			if handlerSpan.TraceID() != req.SpanContext().TraceID() {
				t.Fatalf("handler runs in trace %s, publisher in %s", handlerSpan.TraceID(), req.SpanContext().TraceID())
			}
			if err := r.Close(ctx); err != nil {
				t.Fatal(err)
			}
			var send sdktrace.ReadOnlySpan
			var process []sdktrace.ReadOnlySpan
			for _, s := range sr.Ended() {
				switch {
				case s.Name() == "send order.created":
					send = s
				case s.Name() == "process order.created":
					process = append(process, s)
				}
			}
			if send == nil || send.SpanKind() != trace.SpanKindProducer || send.Parent().SpanID() != req.SpanContext().SpanID() {
				t.Fatalf("no PRODUCER span child of the request: %+v", send)
			}
			if len(process) != 2 {
				t.Fatalf("%d process spans, want 2 (a nack, then an ack)", len(process))
			}
			for i, p := range process {
				if p.SpanKind() != trace.SpanKindConsumer || p.Parent().SpanID() != send.SpanContext().SpanID() ||
					p.SpanContext().TraceID() != req.SpanContext().TraceID() {
					t.Errorf("process span %d is not a CONSUMER child of the send span: parent %s", i, p.Parent().SpanID())
				}
				if len(p.Links()) != 1 || p.Links()[0].SpanContext.SpanID() != send.SpanContext().SpanID() {
					t.Errorf("process span %d does not link to the send span", i)
				}
				want := []string{tracing.EventNack, tracing.EventAck}[i]
				if ev := p.Events(); len(ev) == 0 || ev[len(ev)-1].Name != want {
					t.Errorf("process span %d events %v, want last %q", i, ev, want)
				}
			}
		})
	}
}

func TestDeadLetterEvent(t *testing.T) {
	sr, _, tr := recorder(t)
	b, _ := memory.New()
	defer b.Close(context.Background())
	r, _ := eventbus.NewRouter(b, "g", eventbus.WithLogger(slog.New(slog.DiscardHandler)), eventbus.WithMiddleware(
		eventbustrace.Middleware("memory", eventbustrace.WithTracer(tr)),
		eventbus.DeadLetter(b, eventbus.DeadLetterLogger(slog.New(slog.DiscardHandler)))))
	done := make(chan struct{})
	_ = r.Handle("job.run", func(ctx context.Context, m *eventbus.Message) error {
		defer close(done)
		return retry.Permanent(errors.New("bad input"))
	})
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	m, _ := eventbus.NewMessage("job.run", 1)
	_ = b.Publish(context.Background(), m)
	<-done
	_ = r.Close(context.Background())
	spans := sr.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	ev := spans[0].Events()
	if len(ev) != 1 || ev[0].Name != tracing.EventDeadLetter {
		t.Fatalf("events %v, want one dead_letter", ev)
	}
}

func TestPublishErrorRecorded(t *testing.T) {
	sr, _, tr := recorder(t)
	b, _ := memory.New()
	_ = b.Close(context.Background())
	pub := eventbustrace.Publisher(b, "memory", eventbustrace.WithTracer(tr))
	m, _ := eventbus.NewMessage("a.b", 1)
	if err := pub.Publish(context.Background(), m); !errors.Is(err, eventbus.ErrClosed) {
		t.Fatalf("err = %v", err)
	}
	if s := sr.Ended(); len(s) != 1 || s[0].Status().Description == "" {
		t.Fatalf("spans %v: want one with an error status", s)
	}
	if m.Metadata["traceparent"] == "" {
		t.Fatal("no trace context injected")
	}
}
