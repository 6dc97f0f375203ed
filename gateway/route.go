package gateway

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-microkit/microkit/retry"
)

// Route sends the requests whose cleaned path matches Path (and whose method
// is in Methods) to Target, or serves them with Handler, through the
// route's own middleware.
type Route struct {
	// Name identifies the route in logs, metrics and errors; zero means
	// the route's Path.
	Name string
	// Path is the pattern, e.g. "/api/users/**" or "/api/orders/{id}"; see
	// Pattern. Required. The parameters it captures are set as the
	// request's path values, as http.ServeMux sets them: the route's
	// middleware reads r.PathValue("id"), and r.PathValue("**") for the
	// tail, so that a handler reads them the same way under a gateway and
	// under a ServeMux.
	Path string
	// Methods are the allowed methods; zero means every method. GET
	// implies HEAD. Another method gets 405 with an Allow header.
	Methods []string
	// Target picks the upstream; see StaticTarget and the discovery
	// adapter. A route has either a Target or a Handler.
	Target Target
	// Handler serves the route in process instead of proxying it: a
	// composition (ComposeHandler), a health check, a console. It is
	// routed like a proxied route, after the same header stripping and
	// path cleaning, through the gateway's and the route's middleware,
	// with the route's Timeout as its context's deadline (the handler must
	// heed it: the gateway does not cut it off), BodyReadTimeout and
	// Upgrades. It sees the path that would have been forwarded, cleaned
	// (with StripPrefix or Rewrite applied), and the captured parameters
	// as path values (r.PathValue). Retry, Breakers and PreserveHost
	// concern upstreams; New rejects them on a Handler route. A route has
	// either a Target or a Handler.
	Handler http.Handler
	// StripPrefix is removed from the front of the path before it is
	// forwarded, e.g. "/api" turns "/api/users/7" into "/users/7"; zero
	// means no stripping. It must be a prefix of every path Path matches.
	StripPrefix string
	// Rewrite, when set, replaces the forwarded path with this template, in
	// which "{name}" is replaced by a captured parameter and "{**}" by the
	// tail captured by "**", e.g. "/v2/orders/{id}". Zero means no rewrite.
	Rewrite string
	// Middleware wraps this route's proxy, outermost first (auth, rate
	// limiting, ...). Zero means none.
	Middleware []Middleware
	// Timeout bounds each request on this route, retries included; when
	// it expires the gateway answers 504. Zero means no timeout beyond the
	// client's and the server's.
	Timeout time.Duration
	// BodyReadTimeout bounds how long the client may take to send the
	// request body, from the moment the route is matched; a body not
	// received in time is answered 408 and its connection closed. It never
	// runs past Timeout. Zero means the gateway's WithBodyReadTimeout
	// (DefaultBodyReadTimeout unless set); widen it on upload routes.
	BodyReadTimeout time.Duration
	// Upgrades are the protocols a client may switch to on this route
	// (the Upgrade header), such as "websocket"; the gateway then tunnels
	// the connection to the upstream after the route's middleware passed
	// the upgrade request. Zero means none: an Upgrade header is removed
	// and the request proxied as a plain one. "h2c" is never allowed.
	Upgrades []string
	// Retry says how often and how long the gateway sends a request again,
	// each time to an instance the Target picks afresh: MaxAttempts counts
	// the first try, MaxElapsed counts from it, and Backoff paces the
	// retries. The zero value makes no retries. The gateway retries only a
	// request that may be sent twice ([retry.Idempotent]: GET, HEAD,
	// OPTIONS, TRACE, PUT, DELETE, or any method with an Idempotency-Key
	// header) and whose body can be sent again ([retry.Replayable]: none,
	// as the gateway streams a client's body rather than buffering it,
	// unless a middleware set the request's GetBody), only after a
	// transport error or one of RetryStatuses, only while RetryBudget
	// allows it, so that retries cannot multiply the load on an upstream
	// that is already failing, and never past Timeout: a wait that the
	// route's deadline cuts short answers 504.
	Retry retry.Policy
	// RetryStatuses are the upstream statuses that are retried; zero means
	// 502, 503 and 504.
	RetryStatuses []int
	// RetryBudget caps retries as a share of requests; nil means a budget
	// of retry.BudgetPolicy's defaults (20% of requests plus 10 retries a
	// second over 10 seconds) per route. Share one among the routes to one
	// upstream.
	RetryBudget *retry.Budget
	// Breakers guards the upstreams of this route; nil means no breaker.
	Breakers Breakers
	// PreserveHost forwards the client's Host header instead of the
	// upstream's; zero means the upstream's host.
	PreserveHost bool
}

// Validate checks the route as New does; the error is a *RouteError.
func (r Route) Validate() error {
	_, err := compileRoute(0, r)
	return err
}

var defaultRetryStatuses = []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

func (r *Route) retriesStatus(code int) bool {
	if len(r.RetryStatuses) == 0 {
		return slices.Contains(defaultRetryStatuses, code)
	}
	return slices.Contains(r.RetryStatuses, code)
}

// compiledRoute is a validated Route with its handler.
type compiledRoute struct {
	Route
	pattern     Pattern
	methods     []string // upper case; nil means any
	upgrades    []string
	bodyTimeout time.Duration // resolved: never zero
	handler     http.Handler
}

// lists reports whether the route names method, or takes every method.
func (r *compiledRoute) lists(method string) bool {
	return r.methods == nil || slices.Contains(r.methods, method)
}

// allows reports whether the route serves method. A route that allows GET
// also answers HEAD, as net/http's ServeMux does.
func (r *compiledRoute) allows(method string) bool {
	return r.lists(method) || method == http.MethodHead && slices.Contains(r.methods, http.MethodGet)
}

func compileRoute(i int, rt Route) (*compiledRoute, error) {
	name := rt.Name
	if name == "" {
		name = rt.Path
	}
	if name == "" {
		name = "#" + strconv.Itoa(i)
	}
	fail := func(field string, format string, args ...any) error {
		return &RouteError{Route: name, Field: field, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...)}
	}
	p, err := ParsePattern(rt.Path)
	if err != nil {
		return nil, fail("Path", "%v", err)
	}
	switch {
	case rt.Target == nil && rt.Handler == nil:
		return nil, fail("Target", "required: a Target or a Handler")
	case rt.Target != nil && rt.Handler != nil:
		return nil, fail("Handler", "a route has a Target or a Handler, not both")
	case rt.Handler != nil && rt.Retry != (retry.Policy{}):
		return nil, fail("Retry", "a Handler route has no upstream to retry")
	case rt.Handler != nil && rt.Breakers != nil:
		return nil, fail("Breakers", "a Handler route has no upstream to guard")
	case rt.Handler != nil && rt.PreserveHost:
		return nil, fail("PreserveHost", "a Handler route forwards no Host")
	}
	c := &compiledRoute{Route: rt, pattern: p}
	c.Name = name
	for _, m := range rt.Methods {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m == "" || strings.ContainsAny(m, " \t/") {
			return nil, fail("Methods", "bad method %q", m)
		}
		c.methods = append(c.methods, m)
	}
	if rt.StripPrefix != "" {
		sp := strings.TrimSuffix(rt.StripPrefix, "/")
		if !strings.HasPrefix(sp, "/") || !patternHasPrefix(p, sp) {
			return nil, fail("StripPrefix", "%q is not a literal prefix of %q", rt.StripPrefix, rt.Path)
		}
		c.StripPrefix = sp
	}
	if rt.Rewrite != "" {
		if err := checkRewrite(p, rt.Rewrite); err != nil {
			return nil, fail("Rewrite", "%v", err)
		}
	}
	for _, u := range rt.Upgrades {
		u = strings.TrimSpace(u)
		if u == "" || strings.ContainsAny(u, ", \t/") {
			return nil, fail("Upgrades", "bad protocol %q", u)
		}
		if strings.EqualFold(u, "h2c") {
			return nil, fail("Upgrades", "h2c is never forwarded")
		}
		c.upgrades = append(c.upgrades, u)
	}
	switch {
	case rt.BodyReadTimeout < 0:
		return nil, fail("BodyReadTimeout", "negative %v", rt.BodyReadTimeout)
	case rt.Timeout < 0:
		return nil, fail("Timeout", "negative %v", rt.Timeout)
	}
	if err := rt.Retry.Validate(); err != nil {
		return nil, fail("Retry", "%w", err)
	}
	for _, s := range rt.RetryStatuses {
		if s < 100 || s > 599 {
			return nil, fail("RetryStatuses", "bad status %d", s)
		}
	}
	for j, m := range rt.Middleware {
		if m == nil {
			return nil, fail("Middleware", "entry %d is nil", j)
		}
	}
	return c, nil
}

// patternHasPrefix reports whether every path the pattern matches starts
// with the literal prefix.
func patternHasPrefix(p Pattern, prefix string) bool {
	segs := strings.Split(strings.TrimPrefix(prefix, "/"), "/")
	if len(segs) > len(p.segs) {
		return false
	}
	for i, s := range segs {
		if p.segs[i].kind != segLiteral || p.segs[i].text != s {
			return false
		}
	}
	return true
}

func checkRewrite(p Pattern, tmpl string) error {
	if !strings.HasPrefix(tmpl, "/") {
		return fmt.Errorf("%q must start with '/'", tmpl)
	}
	rest := tmpl
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return fmt.Errorf("%q: unclosed '{'", tmpl)
		}
		name := rest[i+1 : i+j]
		if !patternCaptures(p, name) {
			return fmt.Errorf("%q: %q is not captured by the path pattern", tmpl, name)
		}
		rest = rest[i+j+1:]
	}
	return nil
}

func patternCaptures(p Pattern, name string) bool {
	for _, s := range p.segs {
		if s.kind == segTail && name == "**" || s.kind == segParam && s.text != "" && s.text == name {
			return true
		}
	}
	return false
}

// upstreamPath is the path forwarded for a request on this route, or, on a
// Handler route, the path its handler sees.
func (r *compiledRoute) upstreamPath(clean string, params Params) string {
	if r.Rewrite != "" {
		var b strings.Builder
		rest := r.Rewrite
		for {
			i := strings.IndexByte(rest, '{')
			if i < 0 {
				b.WriteString(rest)
				break
			}
			j := strings.IndexByte(rest[i:], '}')
			b.WriteString(rest[:i])
			b.WriteString(params.Get(rest[i+1 : i+j]))
			rest = rest[i+j+1:]
		}
		// A parameter may be empty ("**" matched nothing) or contain dots
		// only as whole names of files, never "..": the clean path had none.
		out, err := resolveDots(b.String())
		if err != nil {
			return "/"
		}
		return out
	}
	if r.StripPrefix != "" {
		p := strings.TrimPrefix(clean, r.StripPrefix)
		if p == "" {
			return "/"
		}
		return p
	}
	return clean
}
