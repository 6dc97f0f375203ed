// Package productpb is the Go code protoc generates from
// examples/shop/proto/microkit/shop/product/v1/product.proto: the messages
// of the product-service's gRPC API and its ProductService client and
// server. Do not edit the .pb.go files; change the .proto and run
// go generate (protoc, protoc-gen-go and protoc-gen-go-grpc on PATH; .ci/run
// installs the versions it checks against).
package productpb

//go:generate protoc --proto_path=../../../proto --go_out=. --go_opt=module=github.com/go-microkit/microkit/examples/shop/internal/products/productpb --go-grpc_out=. --go-grpc_opt=module=github.com/go-microkit/microkit/examples/shop/internal/products/productpb microkit/shop/product/v1/product.proto
