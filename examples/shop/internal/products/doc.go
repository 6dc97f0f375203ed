// Package products is the shop's product-service: the catalog and its stock,
// served over REST (GET /products, GET /products/{id}) and over a
// gRPC ProductService (GetProduct, CheckStock), plus the stock reservation
// and release the order saga calls, idempotent by key
// (POST /reservations, POST /reservations/{key}/release).
//
// The gRPC service is hand-written, without protoc: [ServiceDesc] is a
// grpc.ServiceDesc over plain Go structs carried by a JSON codec ([Codec]),
// forced on both ends with grpc.ForceServerCodecV2 and grpc.ForceCodecV2.
//
// Start at [New].
package products
