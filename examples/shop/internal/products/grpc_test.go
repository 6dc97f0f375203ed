package products

import (
	"net"
	"slices"
	"testing"

	"github.com/go-microkit/microkit/examples/shop/internal/products/productpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

const productService = "microkit.shop.product.v1.ProductService"

// dialProducts serves the ProductService over a seeded store on a loopback
// port, as New does, and returns a client connection with gRPC's default
// (protobuf) codec.
func dialProducts(t *testing.T) *grpc.ClientConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := newGRPCServer(newStore(t))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(ln)
	}()
	t.Cleanup(func() { gs.Stop(); <-done })
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// The service is called by method name with protobuf messages, the way any
// gRPC client in any language calls it: no codec option on either side.
func TestProductServiceSpeaksProtobuf(t *testing.T) {
	cc := dialProducts(t)
	tests := []struct {
		name     string
		method   string
		req, out proto.Message
		want     proto.Message
		code     codes.Code
	}{
		{"get", "GetProduct", &productpb.GetProductRequest{Id: "a"}, new(productpb.Product),
			&productpb.Product{Id: "a", Name: "A", PriceCents: 100, Stock: 5}, codes.OK},
		{"get unknown", "GetProduct", &productpb.GetProductRequest{Id: "nope"}, new(productpb.Product), nil, codes.NotFound},
		{"stock enough", "CheckStock", &productpb.CheckStockRequest{ProductId: "a", Quantity: 5}, new(productpb.CheckStockResponse),
			&productpb.CheckStockResponse{Available: true, Stock: 5}, codes.OK},
		{"stock short", "CheckStock", &productpb.CheckStockRequest{ProductId: "b", Quantity: 2}, new(productpb.CheckStockResponse),
			&productpb.CheckStockResponse{Available: false, Stock: 1}, codes.OK},
		{"stock unknown", "CheckStock", &productpb.CheckStockRequest{ProductId: "nope", Quantity: 1}, new(productpb.CheckStockResponse), nil, codes.NotFound},
		{"stock of nothing", "CheckStock", &productpb.CheckStockRequest{ProductId: "a"}, new(productpb.CheckStockResponse), nil, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := cc.Invoke(t.Context(), "/"+productService+"/"+tt.method, tt.req, tt.out)
			if status.Code(err) != tt.code {
				t.Fatalf("%s = %v, want code %v", tt.method, err, tt.code)
			}
			if tt.want != nil && !proto.Equal(tt.out, tt.want) {
				t.Errorf("%s = %v, want %v", tt.method, tt.out, tt.want)
			}
		})
	}
}

// Server reflection lists the service and hands out its descriptor; a
// client built from that descriptor alone (dynamic messages, no generated
// code: what grpcurl does) calls GetProduct.
func TestProductServiceThroughReflection(t *testing.T) {
	cc := dialProducts(t)
	stream, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ask := func(req *reflectionpb.ServerReflectionRequest) *reflectionpb.ServerReflectionResponse {
		t.Helper()
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	var services []string
	for _, s := range ask(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}).GetListServicesResponse().GetService() {
		services = append(services, s.GetName())
	}
	if !slices.Contains(services, productService) {
		t.Fatalf("reflection lists %q, want %s among them", services, productService)
	}

	files := ask(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: productService},
	}).GetFileDescriptorResponse().GetFileDescriptorProto()
	if len(files) != 1 {
		t.Fatalf("reflection returned %d files for %s, want product.proto alone", len(files), productService)
	}
	var fdp descriptorpb.FileDescriptorProto
	if err := proto.Unmarshal(files[0], &fdp); err != nil {
		t.Fatal(err)
	}
	fd, err := protodesc.NewFile(&fdp, new(protoregistry.Files))
	if err != nil {
		t.Fatal(err)
	}
	method := fd.Services().ByName("ProductService").Methods().ByName("GetProduct")
	if method == nil {
		t.Fatalf("%s has no GetProduct in %s", productService, fd.Path())
	}
	req := dynamicpb.NewMessage(method.Input())
	req.Set(method.Input().Fields().ByName("id"), protoreflect.ValueOfString("a"))
	out := dynamicpb.NewMessage(method.Output())
	if err := cc.Invoke(t.Context(), "/"+productService+"/GetProduct", req, out); err != nil {
		t.Fatal(err)
	}
	fields := method.Output().Fields()
	if name, price := out.Get(fields.ByName("name")).String(), out.Get(fields.ByName("price_cents")).Int(); name != "A" || price != 100 {
		t.Errorf("GetProduct through reflection = %v, want name A, price_cents 100", out)
	}
}
