package gateway_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/gateway/discoverytarget"
	"github.com/go-microkit/microkit/gateway/gatewaytrace"
	"github.com/go-microkit/microkit/gateway/jwtauth"
	"github.com/go-microkit/microkit/gateway/ratelimit"
	"github.com/go-microkit/microkit/gateway/ratelimit/redislimit"
	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/tracing"
)

// A shop's gateway as a main.go: discovered services, JWT auth from the
// identity provider's JWKS, 100 requests a minute per user or IP shared by
// all instances through Redis, a breaker per upstream, retries, tracing.
// (Compile-only: it needs the services, Redis and the identity provider.)
func Example_main() {
	reg, _ := discovery.StaticFromEnv("SERVICES") // or discovery/consul
	resolver, _ := discovery.NewResolver(reg, discovery.WithOutlierEjection(discovery.OutlierPolicy{}))
	defer resolver.Close(context.Background())

	jwks, _ := jwtauth.NewJWKS(os.Getenv("JWKS_URL"))
	auth, _ := jwtauth.New(jwks, jwtauth.WithIssuer(os.Getenv("JWT_ISSUER")), jwtauth.WithAudience("shop"),
		jwtauth.WithLeeway(30*time.Second))
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR")})
	shared, _ := redislimit.New(rdb, ratelimit.PerMinute(100)) // falls back to local when Redis is down
	trusted, _ := gateway.NewClientIP("10.0.0.0/8")            // the load balancer in front
	limit, _ := ratelimit.Middleware(shared, ratelimit.WithKeyFunc(ratelimit.BySubjectOrClientIP(trusted)))
	byIP := ratelimit.ByClientIP(trusted)
	failLimit, _ := ratelimit.FailureLimit(shared, ratelimit.WithKeyFunc(func(r *http.Request) string {
		return "authfail:" + byIP(r) // 100 failed logins a minute per address, apart from the request budget
	}))
	breakers, _ := breaker.NewSet("gateway", 1024, breaker.WithFailureRate(0.5), breaker.WithCountWindow(20, 10))
	perHost, _ := gateway.BreakerSet(breakers)

	// Middleware order: failed authentications per address, then
	// authentication, then the limit per user (or address), then the body
	// limit.
	service := func(path, name string, authenticated bool) gateway.Route {
		t, _ := discoverytarget.New(resolver, name)
		mw := []gateway.Middleware{limit, gateway.BodyLimit(1 << 20)}
		if authenticated {
			mw = append([]gateway.Middleware{failLimit, auth.Middleware()}, mw...)
		}
		return gateway.Route{Path: path, Target: t, StripPrefix: "/api", Timeout: 5 * time.Second,
			Retry: retry.Policy{MaxAttempts: 3, Backoff: retry.Backoff{Initial: 20 * time.Millisecond}}, Breakers: perHost, Middleware: mw}
	}
	g, err := gateway.New([]gateway.Route{
		service("/api/users/**", "user-service", true),
		service("/api/orders/**", "order-service", true),
		service("/api/products/**", "product-service", false),
	}, gateway.WithTrustedProxies("10.0.0.0/8"),
		gateway.WithMiddleware(gateway.RequestID(), gateway.AccessLog(nil), gateway.Recover(nil), tracing.Middleware()),
		gateway.WithTransport(gatewaytrace.Propagate(gateway.NewTransport()))) // or tracing.Transport for client spans
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(gateway.NewServer(":8080", g).ListenAndServe())
}
