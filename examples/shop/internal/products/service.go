package products

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/tracing"
	"github.com/go-microkit/microkit/tracing/tracinggrpc"
)

// Config configures the product-service.
type Config struct {
	// DSN is its database: a SQLite path or a postgres:// URL. Required.
	DSN string
	// Addr and GRPCAddr are where it listens; zero means a free loopback
	// port.
	Addr, GRPCAddr string
	// Seed is inserted into the catalog when missing.
	Seed []Product
}

// DefaultCatalog is the demo catalog.
func DefaultCatalog() []Product {
	return []Product{
		{ID: "p-keyboard", Name: "Mechanical keyboard", PriceCents: 8900, Stock: 1_000_000},
		{ID: "p-mouse", Name: "Wireless mouse", PriceCents: 2900, Stock: 1_000_000},
		{ID: "p-monitor", Name: "27-inch monitor", PriceCents: 32900, Stock: 1_000_000},
		{ID: "p-laptop", Name: "Laptop", PriceCents: 129900, Stock: 1_000_000},
	}
}

// Service is a running product-service. Close stops it.
type Service struct {
	base *platform.Base
	st   *store
	srv  *platform.Server
}

// New opens the database, seeds it and starts the HTTP and gRPC servers,
// registered as product-service and product-grpc.
func New(ctx context.Context, deps *platform.Deps, cfg Config) (_ *Service, err error) {
	b, err := platform.NewBase(ctx, deps, platform.ProductService, cfg.DSN, cfg.Addr, schema...)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.Close(context.WithoutCancel(ctx)))
		}
	}()
	s := &Service{base: b, st: &store{db: b.DB}, srv: b.Server}
	if err := s.st.seed(ctx, cfg.Seed); err != nil {
		return nil, err
	}
	grpcAddr := cfg.GRPCAddr
	if grpcAddr == "" {
		grpcAddr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		return nil, fmt.Errorf("products: listen grpc: %w", err)
	}
	gs := newGRPCServer(s.st, tracinggrpc.ServerOption(tracing.Default()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(ln)
	}()
	b.Stack.Push(func(context.Context) error {
		gs.GracefulStop()
		<-done
		return nil
	})
	// The gRPC port is healthy when the process is ready: its check reads
	// the HTTP server's /readyz, the one readiness signal of the process.
	check := fmt.Sprintf("http://%s/readyz", net.JoinHostPort(deps.Host, fmt.Sprint(b.Server.Port())))
	a, err := deps.Announce(ctx, platform.ProductGRPC, ln.Addr().(*net.TCPAddr).Port, nil, check, nil)
	if err != nil {
		return nil, err
	}
	b.Stack.Push(a.Close)
	s.routes()
	if err := b.Serve(ctx, deps, platform.ProductService); err != nil {
		return nil, err
	}
	return s, nil
}

// URL returns the base URL of the HTTP server.
func (s *Service) URL() string { return s.base.URL() }

// Close deregisters the service, stops its servers and closes its database.
// It is idempotent.
func (s *Service) Close(ctx context.Context) error { return s.base.Close(ctx) }

// ReserveRequest asks to take Items out of stock under Key.
type ReserveRequest struct {
	// Key is the idempotency key, the saga step's.
	Key string `json:"key"`
	// Items are what to take out of stock.
	Items []Item `json:"items"`
}

// StockReport is the stock of each product and the part of it held by live
// reservations, for audits.
type StockReport struct {
	// Products are the catalog with its stock.
	Products []Product `json:"products"`
	// Reserved maps a product to the quantity live reservations hold.
	Reserved map[string]int64 `json:"reserved"`
}

func (s *Service) routes() {
	s.srv.HandleFunc("GET /products", func(w http.ResponseWriter, r *http.Request) {
		ps, err := s.st.list(r.Context())
		if err != nil {
			platform.WriteInternal(w, r, err)
			return
		}
		platform.WriteJSON(w, http.StatusOK, ps)
	})
	s.srv.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		p, err := s.st.get(r.Context(), r.PathValue("id"))
		switch {
		case errors.Is(err, ErrNotFound):
			platform.WriteError(w, r, http.StatusNotFound, "not_found", "no such product")
		case err != nil:
			platform.WriteInternal(w, r, err)
		default:
			platform.WriteJSON(w, http.StatusOK, p)
		}
	})
	s.srv.HandleFunc("POST /reservations", func(w http.ResponseWriter, r *http.Request) {
		var req ReserveRequest
		if !platform.ReadJSON(w, r, &req) {
			return
		}
		if req.Key == "" || len(req.Items) == 0 {
			platform.WriteError(w, r, http.StatusBadRequest, "bad_request", "key and items are required")
			return
		}
		for _, it := range req.Items {
			if it.Quantity <= 0 {
				platform.WriteError(w, r, http.StatusBadRequest, "bad_request", "quantities must be positive")
				return
			}
		}
		err := s.st.reserve(r.Context(), req.Key, req.Items)
		switch {
		case errors.Is(err, ErrOutOfStock):
			platform.WriteError(w, r, http.StatusConflict, "out_of_stock", "not enough stock for every item")
		case errors.Is(err, ErrReleased):
			platform.WriteError(w, r, http.StatusConflict, "released", "this reservation was released already")
		case err != nil:
			platform.WriteInternal(w, r, err)
		default:
			platform.WriteJSON(w, http.StatusOK, map[string]string{"key": req.Key, "status": "reserved"})
		}
	})
	s.srv.HandleFunc("POST /reservations/{key...}", func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutSuffix(r.PathValue("key"), "/release")
		ok = ok && key != ""
		if !ok {
			platform.WriteError(w, r, http.StatusNotFound, "not_found", "unknown action")
			return
		}
		if err := s.st.release(r.Context(), key); err != nil {
			platform.WriteInternal(w, r, err)
			return
		}
		platform.WriteJSON(w, http.StatusOK, map[string]string{"key": key, "status": "released"})
	})
	s.srv.HandleFunc("GET /stock", func(w http.ResponseWriter, r *http.Request) {
		ps, err := s.st.list(r.Context())
		if err == nil {
			var res map[string]int64
			if res, err = s.st.reserved(r.Context()); err == nil {
				platform.WriteJSON(w, http.StatusOK, StockReport{Products: ps, Reserved: res})
				return
			}
		}
		platform.WriteInternal(w, r, err)
	})
}
