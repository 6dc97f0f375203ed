package otelsetup_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/go-microkit/microkit/tracing"
	"github.com/go-microkit/microkit/tracing/otelsetup"
)

// Setup, first thing in main: spans then go where the OTEL_ variables say,
// and every tracing helper records to the installed providers.
func ExampleSetup() {
	ctx := context.Background()
	reg := tracing.NewRegistry()
	shutdown, err := otelsetup.Setup(ctx,
		otelsetup.WithServiceName("orders"),
		otelsetup.WithServiceVersion("1.4.2"),
		otelsetup.WithExporter(otelsetup.ExporterNone), // a service leaves this to OTEL_TRACES_EXPORTER
		otelsetup.WithPrometheus(reg),
	)
	if err != nil {
		panic(err)
	}
	defer func() {
		// Bound the flush of buffered spans on exit.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			fmt.Println(err)
		}
	}()

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", tracing.Handler(reg))
	_ = tracing.Middleware()(mux) // http.ListenAndServe(":8080", ...)

	md := map[string]string{}
	_ = tracing.Do(ctx, "CreateOrder", func(ctx context.Context) error {
		tracing.Inject(ctx, md) // as the event bus does for each message
		return nil
	})
	fmt.Println("message carries trace context:", len(md["traceparent"]) == 55)
	// Output:
	// message carries trace context: true
}
