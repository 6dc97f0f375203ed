package tracing

import (
	"context"
	"strings"
)

// Inject writes the trace context and baggage of ctx into md, as the W3C
// headers traceparent, tracestate and baggage (with the propagator that
// otelsetup.Setup installs), so that a message or request carries it to the
// next hop. Keys already in md are overwritten; a nil md is left alone.
//
// Inject uses the global propagator; with none installed it writes nothing.
func Inject(ctx context.Context, md map[string]string) {
	defaultTracer.Inject(ctx, md)
}

// Extract returns a copy of ctx that holds the remote span context and
// baggage that [Inject] wrote into md. Keys are matched exactly first, then
// case-insensitively, so metadata that went through a transport which
// canonicalises header names ("Traceparent") still works. When md carries no
// valid trace context, ctx is returned with whatever it already held.
func Extract(ctx context.Context, md map[string]string) context.Context {
	return defaultTracer.Extract(ctx, md)
}

// Inject writes the trace context and baggage of ctx into md with the
// Tracer's propagator; see the package-level [Inject].
func (t *Tracer) Inject(ctx context.Context, md map[string]string) {
	if md == nil {
		return
	}
	t.Propagator().Inject(ctx, metadataCarrier(md))
}

// Extract reads the trace context and baggage from md with the Tracer's
// propagator; see the package-level [Extract].
func (t *Tracer) Extract(ctx context.Context, md map[string]string) context.Context {
	if len(md) == 0 {
		return ctx
	}
	return t.Propagator().Extract(ctx, metadataCarrier(md))
}

// metadataCarrier adapts message metadata to propagation.TextMapCarrier.
// Converting a map to it does not allocate: a map is a single pointer.
type metadataCarrier map[string]string

// Get returns the value of key, matched exactly, else case-insensitively.
func (m metadataCarrier) Get(key string) string {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// Set stores value under key.
func (m metadataCarrier) Set(key, value string) { m[key] = value }

// Keys lists the keys of m.
func (m metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}
