package grpcresolver_test

import (
	"log"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/grpcresolver"
)

// A gRPC client that resolves "product-service" through the registry and
// balances with power of two choices.
func ExampleNewBuilder() {
	reg, err := discovery.StaticFromEnv("SERVICES") // or consul.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	b, err := grpcresolver.NewBuilder(reg)
	if err != nil {
		log.Fatal(err)
	}
	conn, err := grpc.NewClient("microkit:///product-service",
		grpc.WithResolvers(b), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	// productpb.NewProductServiceClient(conn)...
}
