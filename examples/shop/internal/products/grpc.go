package products

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
)

// Codec is the gRPC codec of the hand-written ProductService: messages are
// plain Go structs encoded as JSON. It stands in for protobuf because the
// shop is built without protoc; gRPC itself (HTTP/2 framing, deadlines,
// status codes, interceptors, resolvers, balancers) is unchanged.
type Codec struct{}

// Marshal encodes v as JSON.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("products: json codec: %w", err)
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

// Unmarshal decodes JSON into v.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if err := json.Unmarshal(data.Materialize(), v); err != nil {
		return fmt.Errorf("products: json codec: %w", err)
	}
	return nil
}

// Name is the codec's content-subtype: "application/grpc+json".
func (Codec) Name() string { return "json" }

// GetProductRequest asks for one product.
type GetProductRequest struct {
	// ID identifies the product.
	ID string `json:"id"`
}

// CheckStockRequest asks whether quantity of a product is in stock.
type CheckStockRequest struct {
	// ProductID identifies the product.
	ProductID string `json:"product_id"`
	// Quantity is how many; at least 1.
	Quantity int64 `json:"quantity"`
}

// CheckStockResponse says whether the quantity is in stock now.
type CheckStockResponse struct {
	// Available reports whether Quantity is in stock.
	Available bool `json:"available"`
	// Stock is the quantity in stock.
	Stock int64 `json:"stock"`
}

// ProductServer is the server side of the gRPC ProductService.
type ProductServer interface {
	// GetProduct returns one product, or NotFound.
	GetProduct(ctx context.Context, req *GetProductRequest) (*Product, error)
	// CheckStock says whether a quantity is in stock.
	CheckStock(ctx context.Context, req *CheckStockRequest) (*CheckStockResponse, error)
}

const serviceName = "shop.product.v1.ProductService"

// ServiceDesc describes ProductService to grpc.Server.RegisterService, as
// protoc-gen-go-grpc would.
var ServiceDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*ProductServer)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "GetProduct", Handler: unary("GetProduct", func(s ProductServer, ctx context.Context, req *GetProductRequest) (any, error) {
			return s.GetProduct(ctx, req)
		})},
		{MethodName: "CheckStock", Handler: unary("CheckStock", func(s ProductServer, ctx context.Context, req *CheckStockRequest) (any, error) {
			return s.CheckStock(ctx, req)
		})},
	},
	Metadata: "shop/product/v1/product.proto",
}

// unary adapts a typed method to grpc.MethodDesc's handler signature.
func unary[Req any](method string, call func(ProductServer, context.Context, *Req) (any, error)) grpc.MethodHandler {
	full := "/" + serviceName + "/" + method
	return func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		req := new(Req)
		if err := dec(req); err != nil {
			return nil, err
		}
		if interceptor == nil {
			return call(srv.(ProductServer), ctx, req)
		}
		info := &grpc.UnaryServerInfo{Server: srv, FullMethod: full}
		return interceptor(ctx, req, info, func(ctx context.Context, req any) (any, error) {
			return call(srv.(ProductServer), ctx, req.(*Req))
		})
	}
}

// grpcServer implements ProductServer over the store.
type grpcServer struct{ st *store }

// GetProduct implements ProductServer.
func (g grpcServer) GetProduct(ctx context.Context, req *GetProductRequest) (*Product, error) {
	p, err := g.st.get(ctx, req.ID)
	if errors.Is(err, ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "product %q not found", req.ID)
	}
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &p, nil
}

// CheckStock implements ProductServer.
func (g grpcServer) CheckStock(ctx context.Context, req *CheckStockRequest) (*CheckStockResponse, error) {
	p, err := g.st.get(ctx, req.ProductID)
	if errors.Is(err, ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "product %q not found", req.ProductID)
	}
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &CheckStockResponse{Available: p.Stock >= req.Quantity, Stock: p.Stock}, nil
}

// Client is the client side of ProductService. It is safe for concurrent
// use.
type Client struct{ cc grpc.ClientConnInterface }

// NewClient returns a client over cc, which must use Codec (dial with
// grpc.WithDefaultCallOptions(grpc.ForceCodecV2(Codec{}))).
func NewClient(cc grpc.ClientConnInterface) *Client { return &Client{cc: cc} }

// GetProduct returns the product with the given id; a missing one is a
// gRPC NotFound status.
func (c *Client) GetProduct(ctx context.Context, id string) (*Product, error) {
	out := new(Product)
	if err := c.cc.Invoke(ctx, "/"+serviceName+"/GetProduct", &GetProductRequest{ID: id}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// CheckStock says whether quantity of the product is in stock.
func (c *Client) CheckStock(ctx context.Context, id string, quantity int64) (*CheckStockResponse, error) {
	out := new(CheckStockResponse)
	if err := c.cc.Invoke(ctx, "/"+serviceName+"/CheckStock", &CheckStockRequest{ProductID: id, Quantity: quantity}, out); err != nil {
		return nil, err
	}
	return out, nil
}
