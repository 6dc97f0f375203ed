// Package products is the shop's product-service: the catalog and its stock,
// served over REST (GET /products, GET /products/{id}) and over the gRPC
// ProductService (GetProduct, CheckStock), plus the stock reservation
// and release the order saga calls, idempotent by key
// (POST /reservations, POST /reservations/{key}/release).
//
// The gRPC service is protobuf, defined in
// examples/shop/proto/microkit/shop/product/v1/product.proto; its generated
// Go code is package [productpb]. The server registers gRPC server
// reflection, so grpcurl can list and call it without the .proto file.
//
// Start at [New].
package products
