package eventbus

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Handler handles one message. It returns nil to acknowledge it, an error to
// have it redelivered (with the delay of a *RetryError, at once otherwise) or
// an error wrapped by retry.Permanent to have it dead-lettered or dropped.
type Handler func(ctx context.Context, msg *Message) error

// Middleware wraps a Handler with cross-cutting behaviour. A router takes
// its chain from WithMiddleware (every handler) and HandlerMiddleware (one
// handler); the first middleware given is the outermost.
type Middleware func(Handler) Handler

// RouterOption configures a Router.
type RouterOption func(*routerConfig) error

type routerConfig struct {
	logger      *slog.Logger
	concurrency int
	middleware  []Middleware
}

// WithLogger sets the logger for delivery errors the router cannot return to
// anyone (failed acks, fetch errors, dropped permanent failures). Default,
// and with nil, slog.Default().
func WithLogger(l *slog.Logger) RouterOption {
	return func(c *routerConfig) error {
		if l != nil {
			c.logger = l
		}
		return nil
	}
}

// WithConcurrency sets how many messages each handler runs at once (its
// worker goroutines) unless its Handle call says otherwise
// (HandlerConcurrency). Default 1. Adapters that promise per-subject order
// (the memory bus) keep it at any concurrency. n must be positive.
//
// Concurrency is not prefetch: prefetch (WithPrefetch, HandlerPrefetch and
// the adapters' WithPrefetch) bounds how many messages the broker hands a
// subscription ahead of its workers, which spreads or concentrates work
// across the instances of a group; concurrency bounds how many of them
// this process handles at the same time.
func WithConcurrency(n int) RouterOption {
	return func(c *routerConfig) error {
		if n <= 0 {
			return fmt.Errorf("%w: concurrency %d must be positive", ErrInvalidOption, n)
		}
		c.concurrency = n
		return nil
	}
}

// WithMiddleware adds middleware around every handler; the first is the
// outermost, and a handler's own (HandlerMiddleware) runs inside it. The
// recommended chain is Correlate, tracing, metrics, DeadLetter, Retry,
// Dedupe (package eventbus/inbox), Timeout: DeadLetter outside Retry parks
// the last attempt's failure, Dedupe inside Retry and DeadLetter forgets a
// failed or parked delivery so that its redelivery or replay runs the
// handler, and Timeout innermost bounds the handler alone. NewRouter (and
// Handle, for a handler's own middleware) returns an error wrapping
// ErrInvalidOption for an order that breaks a guarantee (DeadLetter inside
// Retry). Nil entries are skipped.
func WithMiddleware(mw ...Middleware) RouterOption {
	return func(c *routerConfig) error {
		c.middleware = appendMiddleware(c.middleware, mw)
		return nil
	}
}

// appendMiddleware appends the non-nil entries of mw to chain.
func appendMiddleware(chain, mw []Middleware) []Middleware {
	for _, m := range mw {
		if m != nil {
			chain = append(chain, m)
		}
	}
	return chain
}

// HandleOption configures one handler registration.
type HandleOption func(*routeConfig) error

type routeConfig struct {
	name        string
	concurrency int
	prefetch    int
	middleware  []Middleware

	// Set by HandlerBatchSize and HandlerBatchWait, for HandleBatch.
	batchSize    int
	batchWait    time.Duration
	batchWaitSet bool
}

// HandlerName names the handler in logs, metrics and dead-letter metadata;
// with the router's group it is the handler's identity, so it must be
// unique within a router (Handle refuses a second handler of one name).
// Default: its pattern.
func HandlerName(name string) HandleOption {
	return func(c *routeConfig) error {
		if name == "" {
			return fmt.Errorf("%w: empty handler name", ErrInvalidOption)
		}
		c.name = name
		return nil
	}
}

// HandlerConcurrency sets how many messages this handler runs at once,
// overriding WithConcurrency. n must be positive.
func HandlerConcurrency(n int) HandleOption {
	return func(c *routeConfig) error {
		if n <= 0 {
			return fmt.Errorf("%w: concurrency %d must be positive", ErrInvalidOption, n)
		}
		c.concurrency = n
		return nil
	}
}

// HandlerPrefetch sets how many messages the adapter may buffer ahead of
// this handler's workers (see WithPrefetch and, for the difference,
// WithConcurrency). Default: the adapter's default.
func HandlerPrefetch(n int) HandleOption {
	return func(c *routeConfig) error {
		if n <= 0 {
			return fmt.Errorf("%w: prefetch %d must be positive", ErrInvalidOption, n)
		}
		c.prefetch = n
		return nil
	}
}

// HandlerMiddleware adds middleware around this handler only, inside the
// router's (WithMiddleware); the first is the outermost. Nil entries are
// skipped.
func HandlerMiddleware(mw ...Middleware) HandleOption {
	return func(c *routeConfig) error {
		c.middleware = appendMiddleware(c.middleware, mw)
		return nil
	}
}
