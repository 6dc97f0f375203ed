package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"

	"github.com/go-microkit/microkit/tracing"
	"go.opentelemetry.io/otel/trace"
)

// fixedSpan returns ctx holding a span context with fixed ids.
func fixedSpan(ctx context.Context) context.Context {
	return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	}))
}

func TestLogHandler(t *testing.T) {
	tests := []struct {
		name      string
		ctx       context.Context
		logger    func(*slog.Logger) *slog.Logger
		wantTrace bool
		path      []string // where trace_id sits in the JSON record
	}{
		{name: "span in ctx", ctx: fixedSpan(context.Background()), wantTrace: true, path: []string{"trace_id"}},
		{name: "no span", ctx: context.Background()},
		{name: "with attrs", ctx: fixedSpan(context.Background()), wantTrace: true, path: []string{"trace_id"},
			logger: func(l *slog.Logger) *slog.Logger { return l.With("order", "o-1") }},
		{name: "with group", ctx: fixedSpan(context.Background()), wantTrace: true, path: []string{"req", "trace_id"},
			logger: func(l *slog.Logger) *slog.Logger { return l.WithGroup("req") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(tracing.LogHandler(slog.NewJSONHandler(&buf, nil)))
			if tt.logger != nil {
				logger = tt.logger(logger)
			}
			logger.InfoContext(tt.ctx, "order created")
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("log line %q: %v", buf.String(), err)
			}
			if !tt.wantTrace {
				if _, ok := rec["trace_id"]; ok {
					t.Errorf("record %v has a trace_id without a span", rec)
				}
				return
			}
			var v any = rec
			for _, k := range tt.path {
				m, _ := v.(map[string]any)
				v = m[k]
			}
			if v != "4bf92f3577b34da6a3ce929d0e0e4736" {
				t.Errorf("trace_id at %v = %v in %v", tt.path, v, rec)
			}
		})
	}
}

func TestLogHandlerEnabledFollowsWrapped(t *testing.T) {
	h := tracing.LogHandler(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if h.Enabled(context.Background(), slog.LevelInfo) || !h.Enabled(context.Background(), slog.LevelError) {
		t.Error("Enabled does not follow the wrapped handler's level")
	}
}

// LogHandler puts the trace and span id on every record logged with a ctx
// that holds a span, so that logs and traces join up.
func ExampleLogHandler() {
	logger := slog.New(tracing.LogHandler(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // keep the example's output stable
			}
			return a
		},
	})))
	ctx := fixedSpan(context.Background()) // in a service: the ctx Do or Middleware gives
	logger.InfoContext(ctx, "order created", "order", "o-1")
	// Output:
	// level=INFO msg="order created" order=o-1 trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7
}
