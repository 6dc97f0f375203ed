package tracing

import (
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
)

// Start options of message spans, built once: trace.WithSpanKind boxes its
// argument, and a fresh options slice per call would escape to the heap.
var (
	producerStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer)}
	consumerStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
)

// maxSpanNames bounds each spanNames cache, so that destinations with ids in
// them ("orders.8e1f...") cannot grow it without end; past the bound names
// are built per call.
const maxSpanNames = 256

// spanNames caches "{operation} {destination}" span names, so that starting
// a message span does not allocate its name each time, which would be the
// one allocation beyond the no-op API's when no provider is installed.
// Reads are on the hot path of every message: they load an immutable map
// through an atomic pointer, without a lock; writers copy it under mu.
type spanNames struct {
	operation string
	mu        sync.Mutex
	names     atomic.Pointer[map[string]string]
}

var (
	sendNames    = &spanNames{operation: "send"}
	processNames = &spanNames{operation: "process"}
)

// get returns the span name for destination, or the operation alone when
// the destination is unknown.
func (s *spanNames) get(destination string) string {
	if destination == "" {
		return s.operation
	}
	m := s.names.Load()
	if m != nil {
		if name, ok := (*m)[destination]; ok {
			return name
		}
	}
	name := s.operation + " " + destination
	if m != nil && len(*m) >= maxSpanNames {
		// Full: the name is built per call, without queueing on mu behind
		// every other message to an uncached destination.
		return name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.names.Load()
	if old == nil || len(*old) < maxSpanNames {
		next := make(map[string]string, 1+lenOf(old))
		if old != nil {
			for k, v := range *old {
				next[k] = v
			}
		}
		next[destination] = name
		s.names.Store(&next)
	}
	return name
}

func lenOf(m *map[string]string) int {
	if m == nil {
		return 0
	}
	return len(*m)
}
