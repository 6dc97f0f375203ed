package tracinggrpc_test

import (
	"github.com/go-microkit/microkit/tracing/tracinggrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// A traced gRPC server and client with the global providers (nil Tracer),
// which otelsetup.Setup installs.
func ExampleServerOption() {
	srv := grpc.NewServer(tracinggrpc.ServerOption(nil))
	defer srv.Stop()

	conn, err := grpc.NewClient("dns:///orders:50051",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		tracinggrpc.DialOption(nil),
	)
	if err != nil {
		panic(err)
	}
	defer conn.Close()
}
