package gatewaysvc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/console"
	"github.com/go-microkit/microkit/examples/shop/internal/notifications"
	"github.com/go-microkit/microkit/examples/shop/internal/orders"
	"github.com/go-microkit/microkit/examples/shop/internal/payments"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/examples/shop/internal/users"
	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/gateway/discoverytarget"
	"github.com/go-microkit/microkit/gateway/jwtauth"
	"github.com/go-microkit/microkit/gateway/ratelimit"
	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/tracing"
)

// Config configures the gateway.
type Config struct {
	// Addr is where it listens, e.g. ":8080"; zero means a free loopback
	// port.
	Addr string
	// InternalAddr is where it serves, as every service does, /healthz,
	// /readyz, /metrics and its own console, registered in the registry
	// as platform.GatewayService; zero means a free loopback port.
	InternalAddr string
	// RatePerMinute is the per-user (or per-IP) limit on authenticated
	// routes; zero means 1000. The textbook 100 is exhausted by a load test
	// of one user in a second.
	RatePerMinute int
	// AuthFailuresPerMinute is how many failed authentications (401
	// answers: a bad or missing token, a wrong login) a client address may
	// have a minute, all at once at most; once spent, its every request
	// gets 429 until the budget refills. Zero means 30.
	AuthFailuresPerMinute int
}

// Gateway is the running gateway. Close stops it.
type Gateway struct {
	srv      *http.Server
	ln       net.Listener
	internal *platform.Server
	done     chan struct{}
	stack    platform.Stack
}

// New builds the routes, starts serving them, and serves and registers
// the gateway's internal port (Config.InternalAddr).
func New(ctx context.Context, deps *platform.Deps, cfg Config) (_ *Gateway, err error) {
	if cfg.RatePerMinute == 0 {
		cfg.RatePerMinute = 1000
	}
	if cfg.AuthFailuresPerMinute == 0 {
		cfg.AuthFailuresPerMinute = 30
	}
	g := &Gateway{done: make(chan struct{})}
	defer func() {
		if err != nil {
			err = errors.Join(err, g.Close(context.WithoutCancel(ctx)))
		}
	}()
	if g.internal, err = platform.NewServer(deps.Name(platform.GatewayService), cfg.InternalAddr, deps.Logger); err != nil {
		return nil, err
	}
	h, err := handler(deps, cfg, g.internal.Console())
	if err != nil {
		return nil, errors.Join(err, g.internal.Shutdown(ctx)) // closes its listener: it never served
	}
	if err := deps.Serve(ctx, &g.stack, platform.GatewayService, g.internal); err != nil {
		return nil, err
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if g.ln, err = net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("gateway: listen %s: %w", addr, err)
	}
	g.srv = gateway.NewServer(addr, h)
	go func() {
		defer close(g.done)
		_ = g.srv.Serve(g.ln)
	}()
	g.stack.Push(func(ctx context.Context) error {
		err := g.srv.Shutdown(ctx)
		<-g.done
		return err
	})
	return g, nil
}

// URL returns the gateway's base URL.
func (g *Gateway) URL() string {
	a := g.ln.Addr().(*net.TCPAddr)
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(a.Port))
}

// InternalURL returns the base URL of the gateway's internal port: its
// probes, metrics and console.
func (g *Gateway) InternalURL() string { return g.internal.URL() }

// Close stops accepting requests and waits for those in flight, then
// deregisters and stops the internal port. It is idempotent.
func (g *Gateway) Close(ctx context.Context) error { return g.stack.Close(ctx) }

// handler returns the gateway's routes; con is the gateway's own console,
// on its internal port, to show its breakers and resolver.
func handler(deps *platform.Deps, cfg Config, con *console.Console) (http.Handler, error) {
	target := func(service string) (gateway.Target, error) {
		return discoverytarget.New(deps.Resolver, deps.Name(service))
	}
	usersT, err := target(platform.UserService)
	if err != nil {
		return nil, err
	}
	productsT, err := target(platform.ProductService)
	if err != nil {
		return nil, err
	}
	ordersT, err := target(platform.OrderService)
	if err != nil {
		return nil, err
	}
	paymentsT, err := target(platform.PaymentService)
	if err != nil {
		return nil, err
	}
	notificationsT, err := target(platform.NotificationService)
	if err != nil {
		return nil, err
	}
	con.AddResolver("http", deps.Resolver)

	jwks, err := jwtauth.NewJWKS(deps.URL(platform.UserService, "/.well-known/jwks.json"), jwtauth.WithHTTPClient(deps.Client))
	if err != nil {
		return nil, err
	}
	auth, err := jwtauth.New(jwks, jwtauth.WithAlgorithms(jwtauth.EdDSA), jwtauth.WithIssuer(users.Issuer),
		jwtauth.WithAudience(users.Audience), jwtauth.WithLeeway(5*time.Second))
	if err != nil {
		return nil, err
	}
	clientIP, err := gateway.NewClientIP()
	if err != nil {
		return nil, err
	}
	limiter, err := ratelimit.NewLocal(ratelimit.PerMinute(cfg.RatePerMinute))
	if err != nil {
		return nil, err
	}
	limit, err := ratelimit.Middleware(limiter, ratelimit.WithKeyFunc(ratelimit.BySubjectOrClientIP(clientIP)))
	if err != nil {
		return nil, err
	}
	// Failed authentications are limited per address, in front of
	// authentication: guessing tokens or passwords (and so probing which
	// accounts exist) gets 429 after a few tries, while clients whose
	// tokens verify never spend that budget.
	failures, err := ratelimit.NewLocal(ratelimit.PerMinute(cfg.AuthFailuresPerMinute))
	if err != nil {
		return nil, err
	}
	byIP := ratelimit.ByClientIP(clientIP)
	failLimit, err := ratelimit.FailureLimit(failures, ratelimit.WithKeyFunc(byIP))
	if err != nil {
		return nil, err
	}
	// One breaker per upstream instance, on the shop's policy: a restarted
	// instance is back after its first short open interval.
	set, err := breaker.NewSet("gateway", 64, platform.BreakerOptions(0, breaker.WithListener(con.BreakerListener()))...)
	if err != nil {
		return nil, err
	}
	con.AddBreakerSet(set)
	breakers, err := gateway.BreakerSet(set)
	if err != nil {
		return nil, err
	}
	private := []gateway.Middleware{failLimit, auth.Middleware(), limit}
	admin := append(slices.Clip(private), requireRole(platform.RoleAdmin))
	retryReads := retry.Policy{MaxAttempts: 3, Backoff: retry.Backoff{Initial: 20 * time.Millisecond, Max: 20 * time.Millisecond}}
	routes := []gateway.Route{
		{Name: "signup", Path: "/api/users/signup", Methods: []string{http.MethodPost}, Target: usersT, StripPrefix: "/api",
			Middleware: []gateway.Middleware{limit}, Timeout: 10 * time.Second},
		{Name: "login", Path: "/api/users/login", Methods: []string{http.MethodPost}, Target: usersT, StripPrefix: "/api",
			Middleware: []gateway.Middleware{failLimit, limit}, Timeout: 10 * time.Second},
		{Name: "users", Path: "/api/users/**", Target: usersT, StripPrefix: "/api", Middleware: private, Timeout: 5 * time.Second},
		{Name: "jwks", Path: "/.well-known/jwks.json", Methods: []string{http.MethodGet}, Target: usersT},
		{Name: "products", Path: "/api/products/**", Methods: []string{http.MethodGet}, Target: productsT, StripPrefix: "/api",
			Timeout: 5 * time.Second, Retry: retryReads, Breakers: breakers},
		// POST /api/orders creates (the gateway retries only idempotent
		// methods, so never a POST); the items under it are read-only.
		{Name: "orders", Path: "/api/orders", Methods: []string{http.MethodGet, http.MethodPost}, Target: ordersT,
			StripPrefix: "/api", Middleware: private, Timeout: 35 * time.Second, Retry: retryReads},
		{Name: "order", Path: "/api/orders/**", Methods: []string{http.MethodGet}, Target: ordersT,
			StripPrefix: "/api", Middleware: private, Timeout: 5 * time.Second, Retry: retryReads},
		// Served by the gateway itself; more specific than "order".
		{Name: "order-details", Path: "/api/orders/{id}/details", Methods: []string{http.MethodGet}, Handler: details(deps),
			Middleware: private, Timeout: 3 * time.Second},
		{Name: "notifications", Path: "/api/notifications", Methods: []string{http.MethodGet}, Target: notificationsT,
			StripPrefix: "/api", Middleware: private, Timeout: 5 * time.Second},
		// The services' fault switches, for demos and tests.
		{Name: "payment-faults", Path: "/api/admin/payment-faults", Methods: []string{http.MethodGet, http.MethodPut},
			Target: paymentsT, Rewrite: platform.FaultPath, Middleware: admin, Timeout: 5 * time.Second},
		{Name: "notification-faults", Path: "/api/admin/notification-faults", Methods: []string{http.MethodGet, http.MethodPut},
			Target: notificationsT, Rewrite: platform.FaultPath, Middleware: admin, Timeout: 5 * time.Second},
	}
	fleet, err := aggregate(deps)
	if err != nil {
		return nil, err
	}
	routes = append(routes, newAdminPages(deps, auth).routes(fleet, failLimit, limit)...)
	// The role header is the gateway's to set, from a verified token only:
	// a client's own is stripped on every route, under every spelling.
	gw, err := gateway.New(routes, gateway.WithTransport(tracing.Transport(nil)), gateway.WithLogger(deps.Logger),
		gateway.WithStripHeaders(platform.RoleHeader),
		gateway.WithMiddleware(gateway.RequestID(), tracing.Middleware(), gateway.Recover(deps.Logger)))
	if err != nil {
		return nil, err
	}
	return gw, nil
}

// requireRole lets through the requests whose verified token has role in
// its users.RoleClaim, passing it on in platform.RoleHeader; the others get
// 403. It runs after authentication, so the claims are the token's.
func requireRole(role string) gateway.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var got string
			if c := jwtauth.ClaimsFromContext(r.Context()); c != nil {
				got, _ = c.All[users.RoleClaim].(string)
			}
			if got != role {
				gateway.WriteError(w, r, http.StatusForbidden, gateway.CodeForbidden, "this route needs the "+role+" role")
				return
			}
			r.Header.Set(platform.RoleHeader, got)
			next.ServeHTTP(w, r)
		})
	}
}

// orderDetails is the order-details view.
type orderDetails struct {
	Order orders.Order `json:"order"`
	// Payments and Notifications are null when their service failed (the
	// view is then partial), empty when there are none.
	Payments      []payments.Charge            `json:"payments"`
	Notifications []notifications.Notification `json:"notifications"`
}

// details is the order-details composition: the order (required), its
// payments and its notifications (optional: the view is marked partial
// without them), fetched in parallel within the route's deadline, each as
// the caller, so that every service checks the order is the caller's. The
// order service answers 404 both for an order that does not exist and for
// another customer's, and gateway.ComposeHandler passes a required part's
// 404 through, so details tell nothing about other customers' orders; a
// required part that failed otherwise is 502, one that timed out 504.
func details(deps *platform.Deps) http.Handler {
	return gateway.ComposeHandler(0, func(r *http.Request, c *gateway.Composition, d *orderDetails) error {
		id := r.PathValue("id")
		if !orders.ValidID(id) {
			// The id goes into the URLs of internal calls: one that no
			// order can have (a dot segment, an escaped slash) is an
			// unknown order, answered as the order service answers one,
			// and never reaches a service.
			return &gateway.UpstreamStatusError{StatusCode: http.StatusNotFound}
		}
		h := http.Header{}
		h.Set(gateway.DefaultSubjectHeader, gateway.SubjectFromContext(r.Context()))
		h.Set(gateway.RequestIDHeader, gateway.RequestIDFromContext(r.Context()))
		gateway.Fetch(c, gateway.Part{Name: "order", Required: true}, &d.Order,
			gateway.GetJSON[orders.Order](deps.Client, deps.URL(platform.OrderService, "/orders/"+url.PathEscape(id)), h))
		gateway.Fetch(c, gateway.Part{Name: "payments"}, &d.Payments,
			gateway.GetJSON[[]payments.Charge](deps.Client, deps.URL(platform.PaymentService, "/charges?order_id="+url.QueryEscape(id)), h))
		gateway.Fetch(c, gateway.Part{Name: "notifications"}, &d.Notifications,
			gateway.GetJSON[[]notifications.Notification](deps.Client, deps.URL(platform.NotificationService, "/notifications?order_id="+url.QueryEscape(id)), h))
		return nil
	})
}
