package tracing

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Log attribute keys [LogHandler] adds, the names most log backends
// (Loki, Elasticsearch, Cloud Logging) link to traces by.
const (
	LogTraceIDKey = "trace_id"
	LogSpanIDKey  = "span_id"
)

// LogHandler wraps h so that a record logged with a context that holds a
// span (slog.InfoContext(ctx, ...)) carries the span's trace_id and span_id,
// which joins logs and traces up in the backend. Records logged without a
// span pass through unchanged. Under a slog group (Logger.WithGroup) the ids
// land inside the group, as every attribute added at Handle time does.
//
// The returned handler is safe for concurrent use if h is.
func LogHandler(h slog.Handler) slog.Handler {
	return logHandler{next: h}
}

type logHandler struct{ next slog.Handler }

// Enabled reports whether the wrapped handler handles level.
func (l logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.next.Enabled(ctx, level)
}

// Handle adds the span's ids to r and passes it on.
func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(
			slog.String(LogTraceIDKey, sc.TraceID().String()),
			slog.String(LogSpanIDKey, sc.SpanID().String()),
		)
	}
	return l.next.Handle(ctx, r)
}

// WithAttrs returns the wrapped handler with attrs, still adding span ids.
func (l logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{next: l.next.WithAttrs(attrs)}
}

// WithGroup returns the wrapped handler with a group, still adding span ids.
func (l logHandler) WithGroup(name string) slog.Handler {
	return logHandler{next: l.next.WithGroup(name)}
}
