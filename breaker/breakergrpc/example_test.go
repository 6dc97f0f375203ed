package breakergrpc_test

import (
	"log/slog"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/breaker/breakergrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// One breaker per method of the catalog service: a broken method fails
// fast without cutting the client off from the others.
func Example() {
	methods, err := breaker.NewSet("catalog", 256,
		breaker.WithFailureRate(0.5),
		breaker.WithCountWindow(50, 10),
		breaker.WithOpenDuration(5*time.Second),
	)
	if err != nil {
		slog.Error("breaker set", "err", err)
		return
	}
	pick := breakergrpc.PerMethod(methods)
	cc, err := grpc.NewClient("catalog:50051",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(breakergrpc.UnaryClientInterceptor(pick)),
		grpc.WithStreamInterceptor(breakergrpc.StreamClientInterceptor(pick)),
	)
	if err != nil {
		slog.Error("dial", "err", err)
		return
	}
	defer cc.Close()
	// Use cc with generated clients as usual; while a method's breaker is
	// open its calls fail at once with codes.Unavailable, matching
	// breaker.ErrOpen.
}
