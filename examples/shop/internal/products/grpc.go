package products

import (
	"context"
	"errors"

	"github.com/go-microkit/microkit/examples/shop/internal/products/productpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// newGRPCServer returns a gRPC server with the ProductService over st and
// server reflection, which lets generic clients (grpcurl, grpcui) list and
// call the service without the .proto file.
func newGRPCServer(st *store, opts ...grpc.ServerOption) *grpc.Server {
	gs := grpc.NewServer(opts...)
	productpb.RegisterProductServiceServer(gs, grpcServer{st: st})
	reflection.Register(gs)
	return gs
}

// grpcServer serves the gRPC ProductService of product.proto over the store.
type grpcServer struct {
	productpb.UnimplementedProductServiceServer
	st *store
}

// GetProduct implements productpb.ProductServiceServer.
func (g grpcServer) GetProduct(ctx context.Context, req *productpb.GetProductRequest) (*productpb.Product, error) {
	p, err := g.lookup(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &productpb.Product{Id: p.ID, Name: p.Name, PriceCents: p.PriceCents, Stock: p.Stock}, nil
}

// CheckStock implements productpb.ProductServiceServer.
func (g grpcServer) CheckStock(ctx context.Context, req *productpb.CheckStockRequest) (*productpb.CheckStockResponse, error) {
	if req.GetQuantity() < 1 {
		return nil, status.Errorf(codes.InvalidArgument, "quantity %d is not at least 1", req.GetQuantity())
	}
	p, err := g.lookup(ctx, req.GetProductId())
	if err != nil {
		return nil, err
	}
	return &productpb.CheckStockResponse{Available: p.Stock >= req.GetQuantity(), Stock: p.Stock}, nil
}

// lookup reads a product, with the store's errors turned into gRPC
// statuses: NotFound for an unknown id, Internal otherwise.
func (g grpcServer) lookup(ctx context.Context, id string) (Product, error) {
	p, err := g.st.get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Product{}, status.Errorf(codes.NotFound, "product %q not found", id)
	}
	if err != nil {
		return Product{}, status.Error(codes.Internal, err.Error())
	}
	return p, nil
}
