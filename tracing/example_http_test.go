package tracing_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/go-microkit/microkit/tracing"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Middleware traces an HTTP server and Transport its clients: one trace
// crosses the wire, and spans are named after the route, not the URL.
func ExampleMiddleware() {
	// A service calls tracing.Middleware() and tracing.Transport(nil), which
	// use the providers otelsetup.Setup installed. Here a Tracer records
	// spans in memory instead.
	rec := tracetest.NewSpanRecorder()
	tr, err := tracing.New(
		tracing.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))),
		tracing.WithPropagator(w3c),
	)
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "order %s", r.PathValue("id"))
	})
	srv := httptest.NewServer(tr.Middleware()(mux))
	defer srv.Close()

	client := &http.Client{Transport: tr.Transport(nil)}
	defer client.CloseIdleConnections()
	ctx := tracing.ContextWithURLTemplate(context.Background(), "/orders/{id}")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/orders/42", nil)
	if err != nil {
		panic(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))

	// The server span ends before the client has read the response.
	for _, s := range rec.Ended() {
		fmt.Println(s.SpanKind(), s.Name())
	}
	spans := rec.Ended()
	fmt.Println("same trace:", spans[0].SpanContext().TraceID() == spans[1].SpanContext().TraceID())
	// Output:
	// order 42
	// server GET /orders/{id}
	// client GET /orders/{id}
	// same trace: true
}
