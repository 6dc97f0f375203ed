package ratelimit

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/go-microkit/microkit/gateway"
)

// maxSpentKeys bounds the keys FailureLimit remembers as over budget.
const maxSpentKeys = 100_000

// FailureLimit limits failed authentications: every 401 answer of the
// handler it wraps takes one token of the request's key from l, and once a
// key's budget is spent its requests get 429 (with Retry-After) without
// reaching the wrapped handler, until l allows that key again. Put it in
// front of authentication (gateway/jwtauth), keyed by client address (the
// default is ByClientIP with no trusted proxy, prefixed "authfail:" so
// that a limiter shared with Middleware keeps the two budgets apart; see
// WithKeyFunc): a flood
// of bad tokens from one address is cut off after l's burst, while clients
// whose tokens verify never spend the budget. WithLogger and
// WithFailClosed apply as for Middleware.
//
// The limiter counts the failures (shared by several gateway instances
// with redislimit); which keys are over budget right now is remembered in
// process, for at most 100 000 keys, and checked against l again on a
// key's next request.
func FailureLimit(l Limiter, opts ...MiddlewareOption) (gateway.Middleware, error) {
	if l == nil {
		return nil, fmt.Errorf("%w: nil limiter", ErrInvalidOption)
	}
	byIP := ByClientIP(gateway.ClientIP{})
	cfg, err := newMWConfig(func(r *http.Request) string { return "authfail:" + byIP(r) }, opts)
	if err != nil {
		return nil, err
	}
	f := &failureLimit{l: l, cfg: cfg, spent: map[string]struct{}{}}
	return f.middleware, nil
}

type failureLimit struct {
	l     Limiter
	cfg   mwConfig
	mu    sync.Mutex
	spent map[string]struct{} // keys whose last decision was a denial
	// nSpent is len(spent), read without the lock on every request: while
	// no key is over budget (the usual case) a request costs no key and no
	// lock.
	nSpent atomic.Int64
}

func (f *failureLimit) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var key string
		if f.nSpent.Load() > 0 {
			key = f.cfg.key(r)
		}
		if key != "" && f.isSpent(key) {
			// Ask the limiter again: its tokens may have come back. A
			// denial takes no token; an allowance takes one, so that a
			// key coming back from its limit has one failure less to
			// spend.
			d, err := f.l.Allow(r.Context(), key)
			switch {
			case err != nil:
				f.cfg.logger.LogAttrs(r.Context(), slog.LevelWarn, "ratelimit: limiter error", slog.String("error", err.Error()))
				if !f.cfg.failOpen {
					gateway.WriteError(w, r, http.StatusServiceUnavailable, gateway.CodeUpstreamUnavailable, "rate limiter unavailable")
					return
				}
			case !d.Allowed:
				w.Header().Set("Retry-After", strconv.Itoa(max(1, ceilSeconds(d.RetryAfter))))
				gateway.WriteError(w, r, http.StatusTooManyRequests, gateway.CodeTooManyRequests, "too many failed authentications")
				return
			default:
				f.setSpent(key, false)
			}
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status != http.StatusUnauthorized {
			return
		}
		if key == "" {
			if key = f.cfg.key(r); key == "" {
				return // exempt
			}
		}
		d, err := f.l.Allow(r.Context(), key)
		if err != nil {
			f.cfg.logger.LogAttrs(r.Context(), slog.LevelWarn, "ratelimit: limiter error", slog.String("error", err.Error()))
			return
		}
		if !d.Allowed {
			f.setSpent(key, true)
		}
	})
}

func (f *failureLimit) isSpent(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.spent[key]
	return ok
}

func (f *failureLimit) setSpent(key string, spent bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer func() { f.nSpent.Store(int64(len(f.spent))) }()
	if !spent {
		delete(f.spent, key)
		return
	}
	if len(f.spent) >= maxSpentKeys {
		for k := range f.spent { // map order is random: a random victim
			delete(f.spent, k)
			break
		}
	}
	f.spent[key] = struct{}{}
}

// statusWriter records the status of a response. Unwrap keeps the
// optional interfaces of the wrapped writer reachable through
// http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
