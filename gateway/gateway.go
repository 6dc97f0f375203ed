package gateway

import (
	"context"
	"fmt"
	"github.com/go-microkit/microkit/internal/httppool"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"slices"
	"strings"
	"time"

	"github.com/go-microkit/microkit/retry"
)

// DefaultSubjectHeader is the request header in which the gateway passes the
// verified subject (user id) to upstreams. The gateway deletes it, and every
// header given to WithStripHeaders, from each client request before routing,
// so that a client can never forge it.
const DefaultSubjectHeader = "X-Auth-Subject"

// Gateway routes requests to upstreams through per-route middleware and a
// reverse proxy. It is an http.Handler: serve it with NewServer or mount it
// in an existing server. Build it with New; it is safe for concurrent use.
type Gateway struct {
	routes  []*compiledRoute
	handler http.Handler
	cfg     config
	strip   stripSet
}

type config struct {
	middleware []Middleware
	transport  http.RoundTripper
	logger     *slog.Logger
	clientIP   ClientIP
	strip      []string
	flush      time.Duration
	bodyRead   time.Duration
}

// Option configures New.
type Option func(*config) error

// WithMiddleware wraps the whole gateway, routing included, in m, outermost
// first: the place for RequestID, AccessLog, Recover, HeaderLimit, CORS and
// tracing. Route-specific middleware (auth, rate limits) goes in
// Route.Middleware. Nil entries are skipped.
func WithMiddleware(m ...Middleware) Option {
	return func(c *config) error {
		for _, mw := range m {
			if mw != nil {
				c.middleware = append(c.middleware, mw)
			}
		}
		return nil
	}
}

// WithTransport sets the transport to upstreams; nil means the default,
// NewTransport(). Wrap that one rather than http.DefaultTransport, which
// keeps only 2 idle connections per upstream.
func WithTransport(rt http.RoundTripper) Option {
	return func(c *config) error {
		c.transport = rt
		return nil
	}
}

// WithLogger sets the logger for proxy errors; nil means the default,
// slog.Default.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			l = slog.Default()
		}
		c.logger = l
		return nil
	}
}

// WithTrustedProxies names the proxies in front of the gateway (CIDR
// prefixes or addresses) whose X-Forwarded-For and Forwarded headers are
// kept and extended; from any other peer they are replaced. The default
// trusts no proxy.
func WithTrustedProxies(proxies ...string) Option {
	return func(c *config) error {
		ip, err := NewClientIP(proxies...)
		if err != nil {
			return err
		}
		c.clientIP = ip
		return nil
	}
}

// WithStripHeaders adds request headers that are deleted from every client
// request before routing, such as headers by which upstreams trust
// identity, under every spelling an upstream may read as them (see
// StripHeader). They come on top of the headers the gateway always strips
// (DefaultSubjectHeader, method overrides, URL rewrites) and of the
// forwarding, client-address and identity headers it strips from clients
// that are not trusted proxies; docs/gateway.md lists them.
func WithStripHeaders(names ...string) Option {
	return func(c *config) error {
		for _, n := range names {
			if n == "" {
				return fmt.Errorf("%w: empty header name", ErrInvalidOption)
			}
			c.strip = append(c.strip, http.CanonicalHeaderKey(n))
		}
		return nil
	}
}

// WithBodyReadTimeout sets how long a client may take to send a request
// body on the routes that do not set Route.BodyReadTimeout; zero means
// DefaultBodyReadTimeout (30 s). A body not received in time is answered
// 408 and its connection closed, so that slow clients cannot hold
// connections and upstream calls open. Widen it for uploads, per route.
func WithBodyReadTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("%w: negative body read timeout %v", ErrInvalidOption, d)
		}
		c.bodyRead = d
		return nil
	}
}

// WithFlushInterval sets how often streamed response bodies are flushed to
// the client (httputil.ReverseProxy.FlushInterval); zero flushes only
// streaming responses (unknown length, text/event-stream) and does so at
// once, a negative value flushes after every write.
func WithFlushInterval(d time.Duration) Option {
	return func(c *config) error {
		c.flush = d
		return nil
	}
}

// NewTransport returns the gateway's default transport to upstreams: a
// clone of http.DefaultTransport that keeps up to 256 idle connections per
// upstream (instead of 2), so that a busy route does not open and close a
// connection per request.
func NewTransport() *http.Transport {
	return httppool.NewTransport()
}

// New builds a gateway from routes. It validates every route; the error is
// a *RouteError (wrapping ErrInvalidOption) naming the route and field, or
// wraps ErrInvalidOption for a bad option.
func New(routes []Route, opts ...Option) (*Gateway, error) {
	cfg := config{logger: slog.Default()}
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.transport == nil {
		cfg.transport = NewTransport()
	}
	if cfg.bodyRead == 0 {
		cfg.bodyRead = DefaultBodyReadTimeout
	}
	g := &Gateway{cfg: cfg, strip: newStripSet(cfg.strip)}
	for i, rt := range routes {
		c, err := compileRoute(i, rt)
		if err != nil {
			return nil, err
		}
		for _, prev := range g.routes {
			if prev.pattern.Equivalent(c.pattern) && methodsOverlap(prev.methods, c.methods) {
				return nil, &RouteError{Route: c.Name, Field: "Path", Err: fmt.Errorf("%w: same paths (%s) and methods as route %s", ErrInvalidOption, prev.pattern.raw, prev.Name)}
			}
		}
		if err := g.buildHandler(c); err != nil {
			return nil, err
		}
		g.routes = append(g.routes, c)
	}
	g.handler = Chain(cfg.middleware...)(http.HandlerFunc(g.serveRoute))
	return g, nil
}

// methodsOverlap reports whether two method lists (nil: all) share one.
func methodsOverlap(a, b []string) bool {
	if a == nil || b == nil {
		return true
	}
	for _, m := range a {
		if slices.Contains(b, m) {
			return true
		}
	}
	return false
}

func (g *Gateway) buildHandler(c *compiledRoute) error {
	budget := c.RetryBudget
	if budget == nil && c.Retry.Retries() {
		var err error
		if budget, err = retry.NewBudget(retry.BudgetPolicy{}); err != nil {
			return err
		}
	}
	c.bodyTimeout = c.BodyReadTimeout
	if c.bodyTimeout == 0 {
		c.bodyTimeout = g.cfg.bodyRead
	}
	if c.Route.Handler != nil {
		c.setHandler(serveLocal(c))
		return nil
	}
	rp := &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		Transport:      &routeTransport{route: c, base: g.cfg.transport, budget: budget, wait: sleepCtx},
		FlushInterval:  g.cfg.flush,
		ErrorLog:       slog.NewLogLogger(g.cfg.logger.Handler(), slog.LevelWarn),
		ErrorHandler:   g.proxyError,
		BufferPool:     sharedBufferPool,
		ModifyResponse: dropOwnedHeaders,
	}
	// Innermost, after the route's middleware has passed the request:
	// the upgrade policy, and the body's deadline and typed read errors.
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.allowUpgrade(r.Header)
		m, _ := r.Context().Value(matchKey).(*match)
		if m != nil {
			m.response = w.Header()
		}
		if body := guardBody(w, r, c.bodyTimeout); body != nil && m != nil {
			m.body = body
		}
		rp.ServeHTTP(w, r)
	})
	c.setHandler(h)
	return nil
}

// setHandler wraps the innermost handler of route c, the proxy or its
// local Handler, in the route's timeout and middleware.
func (c *compiledRoute) setHandler(h http.Handler) {
	if c.Timeout > 0 {
		h = withTimeout(c.Timeout, h)
	}
	c.handler = Chain(c.Middleware...)(h)
}

// serveLocal is the innermost handler of a Handler route: the upgrade
// policy and the body's deadline as on a proxied route, then the route's
// Handler with the path it would have forwarded, so that the handler and
// the router agree on what the path is.
func serveLocal(c *compiledRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.allowUpgrade(r.Header)
		guardBody(w, r, c.bodyTimeout)
		if m, _ := r.Context().Value(matchKey).(*match); m != nil {
			r2 := new(http.Request)
			*r2 = *r
			u := *r.URL
			u.Path, u.RawPath = m.upstream, ""
			r2.URL = &u
			r = r2
		}
		c.Route.Handler.ServeHTTP(w, r)
	})
}

func withTimeout(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// ServeHTTP routes r. Before any middleware sees it, the headers the
// gateway strips are removed (see WithStripHeaders).
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.sanitize(r)
	g.handler.ServeHTTP(w, r)
}

// Routes returns the names of the routes in declaration order.
func (g *Gateway) Routes() []string {
	names := make([]string, len(g.routes))
	for i, r := range g.routes {
		names[i] = r.Name
	}
	return names
}

func (g *Gateway) serveRoute(w http.ResponseWriter, r *http.Request) {
	clean, err := CleanPath(r.URL.EscapedPath())
	if err != nil {
		WriteError(w, r, http.StatusBadRequest, CodeBadRequest, "malformed request path")
		return
	}
	rt, params, status := g.match(r.Method, clean)
	switch status {
	case http.StatusNotFound:
		WriteError(w, r, status, CodeNotFound, "no route for this path")
		return
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", g.allow(rt))
		WriteError(w, r, status, CodeMethodNotAllowed, "method not allowed on this route")
		return
	}
	recordRoute(r.Context(), rt.Name)
	// Like http.ServeMux, tell the middleware outside routing (tracing
	// names its spans after it) which pattern matched, and set the
	// captured parameters as the request's path values, so that a handler
	// reads them with r.PathValue whether a gateway or a ServeMux routed
	// it.
	r.Pattern = rt.pattern.raw
	for _, p := range params {
		r.SetPathValue(p.Name, p.Value)
	}
	m := &match{route: rt.Name, upstream: rt.upstreamPath(clean, params)}
	rt.handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), matchKey, m)))
}

// match finds the most specific route whose pattern matches path, and among
// the routes whose patterns rank the same (they differ at most in parameter
// names, as "/orders/{id}" and "/orders/{orderID}") the one for method (see
// serving). It never falls back to a less specific pattern because of the
// method: a POST to a protected GET-only route must not reach a public
// catch-all.
func (g *Gateway) match(method, path string) (*compiledRoute, Params, int) {
	var best *compiledRoute
	for _, rt := range g.routes {
		// Find the winner without capturing, then capture once.
		if !rt.pattern.matches(path) {
			continue
		}
		if best == nil || rt.pattern.moreSpecific(best.pattern) {
			best = rt
		}
	}
	if best == nil {
		return nil, nil, http.StatusNotFound
	}
	rt := best
	if !best.lists(method) {
		if rt = g.serving(method, best); rt == nil {
			return best, nil, http.StatusMethodNotAllowed
		}
	}
	params, _ := rt.pattern.Match(path, make(Params, 0, rt.pattern.captures))
	return rt, params, http.StatusOK
}

// serving picks the route for method among those of best's rank: the first
// declared that lists it (or every method), else the first that answers it
// through GET (HEAD); nil when none allows it.
func (g *Gateway) serving(method string, best *compiledRoute) *compiledRoute {
	var implicit *compiledRoute
	for _, rt := range g.routes {
		if !sameRank(rt, best) {
			continue
		}
		if rt.lists(method) {
			return rt
		}
		if implicit == nil && rt.allows(method) {
			implicit = rt
		}
	}
	return implicit
}

// sameRank reports whether rt matches path as specifically as best, the
// most specific route that matches it: whether their patterns are
// equivalent, since two patterns that rank the same and match one path
// match the same paths.
func sameRank(rt, best *compiledRoute) bool {
	return rt == best || rt.pattern.Equivalent(best.pattern)
}

// allow is the Allow header of a 405 whose most specific route is best: the
// methods of every route of the same rank, in declaration order.
func (g *Gateway) allow(best *compiledRoute) string {
	var methods []string
	for _, rt := range g.routes {
		if sameRank(rt, best) {
			for _, m := range rt.methods {
				if !slices.Contains(methods, m) {
					methods = append(methods, m)
				}
				if m == http.MethodGet && !slices.Contains(methods, http.MethodHead) {
					methods = append(methods, http.MethodHead)
				}
			}
		}
	}
	return strings.Join(methods, ", ")
}

// rewrite prepares the outbound request: the route's path, X-Forwarded-*
// and Forwarded. The scheme and host are set per attempt by routeTransport.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	m, _ := pr.In.Context().Value(matchKey).(*match)
	if m != nil {
		pr.Out.URL.Path = m.upstream
		pr.Out.URL.RawPath = ""
	}
	trusted := g.cfg.clientIP.Trusted(pr.In)
	if trusted {
		pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
	}
	pr.SetXForwarded()
	if trusted {
		if h := pr.In.Header.Get("X-Forwarded-Host"); h != "" {
			pr.Out.Header.Set("X-Forwarded-Host", h)
		}
		if p := pr.In.Header.Get("X-Forwarded-Proto"); p != "" {
			pr.Out.Header.Set("X-Forwarded-Proto", p)
		}
	}
	fwd := forwardedElement(pr.In)
	if trusted {
		if prev := pr.In.Header.Values("Forwarded"); len(prev) > 0 {
			pr.Out.Header["Forwarded"] = append(append([]string(nil), prev...), fwd)
			return
		}
	}
	pr.Out.Header.Set("Forwarded", fwd)
}

// forwardedElement is the RFC 7239 element this hop adds, built in one
// allocation.
func forwardedElement(r *http.Request) string {
	var ipBuf [64]byte
	ip := []byte("unknown")
	v6 := false
	if a := Peer(r); a.IsValid() {
		ip = a.AppendTo(ipBuf[:0])
		v6 = a.Is6()
	}
	host := r.Host
	if !validForwardedHost(host) {
		host = ""
	}
	quoteHost := host != "" && (host[0] == '[' || strings.IndexByte(host, ':') >= 0)
	var b strings.Builder
	b.Grow(len("for=\"[]\";host=\"\";proto=https") + len(ip) + len(host))
	b.WriteString("for=")
	if v6 {
		b.WriteString(`"[`)
		b.Write(ip)
		b.WriteString(`]"`)
	} else {
		b.Write(ip)
	}
	if host != "" {
		b.WriteString(";host=")
		if quoteHost {
			b.WriteByte('"')
			b.WriteString(host)
			b.WriteByte('"')
		} else {
			b.WriteString(host)
		}
	}
	if r.TLS != nil {
		b.WriteString(";proto=https")
	} else {
		b.WriteString(";proto=http")
	}
	return b.String()
}

// validForwardedHost accepts the characters of a host[:port], so that a
// client's Host header cannot inject parameters into Forwarded.
func validForwardedHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}
