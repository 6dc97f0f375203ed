// Package grpcresolver makes grpc.NewClient("microkit:///product-service")
// resolve through a [discovery.Instancer], the gRPC counterpart of
// [discovery.Transport].
//
// A [Builder] is a gRPC resolver.Builder for the "microkit" scheme: each
// ClientConn it builds follows the registry's Watch for the target's
// service and hands every complete set to gRPC, keeping the last set while
// the registry is unreachable. It selects the balancer through the service
// config: least-request with two choices (power of two choices, the same
// policy as [discovery.LeastRequest]) unless [WithLoadBalancingConfig] says
// otherwise.
//
// Start with [NewBuilder] and pass it to grpc.NewClient with
// grpc.WithResolvers; [Register] installs it globally instead. It lives in
// its own package so that the core discovery package does not import gRPC.
package grpcresolver
