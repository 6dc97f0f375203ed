package ratelimit

import (
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/go-microkit/microkit/gateway"
)

// KeyFunc names the budget a request draws from; "" exempts the request.
type KeyFunc func(r *http.Request) string

// ByClientIP keys on the client address found by ip, which trusts
// X-Forwarded-For only through the configured proxies, so a client cannot
// dodge its limit by sending the header. IPv6 clients are keyed by their
// /64 network, the smallest block a host is usually given, so that one
// host cannot get a fresh budget from each of its 2^64 addresses.
func ByClientIP(ip gateway.ClientIP) KeyFunc {
	return func(r *http.Request) string {
		a := ip.Addr(r)
		switch {
		case !a.IsValid():
			return "ip:unknown"
		case a.Is6():
			p, _ := a.Prefix(64)
			return "ip:" + p.String()
		}
		return "ip:" + a.String()
	}
}

// BySubjectOrClientIP keys on the authenticated subject
// (gateway.SubjectFromContext, set by jwtauth) and falls back to the client
// address for anonymous requests: the classic gateway rule "100 requests a
// minute per user, or per IP when nobody is signed in".
func BySubjectOrClientIP(ip gateway.ClientIP) KeyFunc {
	byIP := ByClientIP(ip)
	return func(r *http.Request) string {
		if s := gateway.SubjectFromContext(r.Context()); s != "" {
			return "user:" + s
		}
		return byIP(r)
	}
}

type mwConfig struct {
	key      KeyFunc
	logger   *slog.Logger
	failOpen bool
}

// MiddlewareOption configures Middleware.
type MiddlewareOption func(*mwConfig) error

// WithKeyFunc sets how requests are keyed; the default (and what nil
// means) is BySubjectOrClientIP with no trusted proxy.
func WithKeyFunc(f KeyFunc) MiddlewareOption {
	return func(c *mwConfig) error {
		if f == nil {
			return nil // keep the default
		}
		c.key = f
		return nil
	}
}

// WithLogger sets the logger for limiter errors; the default (and what nil
// means) is slog.Default.
func WithLogger(l *slog.Logger) MiddlewareOption {
	return func(c *mwConfig) error {
		if l == nil {
			l = slog.Default()
		}
		c.logger = l
		return nil
	}
}

// WithFailClosed makes the middleware answer 503 when the limiter returns
// an error; the default lets the request through (fail open), since a
// limiter outage should not take the API down. redislimit falls back to a
// local limiter before it ever returns an error.
func WithFailClosed() MiddlewareOption {
	return func(c *mwConfig) error {
		c.failOpen = false
		return nil
	}
}

// Middleware limits requests with l. Every answer carries RateLimit-Limit,
// RateLimit-Remaining and RateLimit-Reset (seconds); a denied request gets
// 429 with Retry-After (seconds) and a JSON error.
func Middleware(l Limiter, opts ...MiddlewareOption) (gateway.Middleware, error) {
	if l == nil {
		return nil, fmt.Errorf("%w: nil limiter", ErrInvalidOption)
	}
	cfg, err := newMWConfig(BySubjectOrClientIP(gateway.ClientIP{}), opts)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := cfg.key(r)
			if key == "" {
				next.ServeHTTP(w, r)
				return
			}
			d, err := l.Allow(r.Context(), key)
			if err != nil {
				cfg.logger.LogAttrs(r.Context(), slog.LevelWarn, "ratelimit: limiter error", slog.String("error", err.Error()))
				if cfg.failOpen {
					next.ServeHTTP(w, r)
					return
				}
				gateway.WriteError(w, r, http.StatusServiceUnavailable, gateway.CodeUpstreamUnavailable, "rate limiter unavailable")
				return
			}
			h := w.Header()
			h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
			h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
			h.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(d.ResetAfter)))
			if !d.Allowed {
				h.Set("Retry-After", strconv.Itoa(max(1, ceilSeconds(d.RetryAfter))))
				gateway.WriteError(w, r, http.StatusTooManyRequests, gateway.CodeTooManyRequests, "rate limit exceeded")
				return
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}

// newMWConfig applies opts over the defaults, keying by key.
func newMWConfig(key KeyFunc, opts []MiddlewareOption) (mwConfig, error) {
	cfg := mwConfig{key: key, logger: slog.Default(), failOpen: true}
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		if err := o(&cfg); err != nil {
			return mwConfig{}, err
		}
	}
	return cfg, nil
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}
