package eventbus

import (
	"context"
	"fmt"
	"log/slog"
)

// Handler handles one message. It returns nil to acknowledge it, an error to
// have it redelivered (with the delay of a *RetryError, at once otherwise) or
// an error wrapped by Permanent to have it dead-lettered or dropped.
type Handler func(ctx context.Context, msg *Message) error

// Middleware wraps a Handler with cross-cutting behaviour. The first
// middleware given to Router.Use is the outermost.
type Middleware func(Handler) Handler

// RouterOption configures a Router.
type RouterOption func(*routerConfig) error

type routerConfig struct {
	logger      *slog.Logger
	concurrency int
	middleware  []Middleware
}

// WithLogger sets the logger for delivery errors the router cannot return to
// anyone (failed acks, fetch errors, dropped permanent failures). Default
// slog.Default().
func WithLogger(l *slog.Logger) RouterOption {
	return func(c *routerConfig) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		c.logger = l
		return nil
	}
}

// WithConcurrency sets how many messages each handler runs at once unless
// its Handle call says otherwise. Default 1. Adapters that promise
// per-subject order (the memory bus) keep it at any concurrency. n must be
// positive.
func WithConcurrency(n int) RouterOption {
	return func(c *routerConfig) error {
		if n <= 0 {
			return fmt.Errorf("%w: concurrency %d must be positive", ErrInvalidOption, n)
		}
		c.concurrency = n
		return nil
	}
}

// WithMiddleware adds middleware around every handler, as Router.Use does.
func WithMiddleware(mw ...Middleware) RouterOption {
	return func(c *routerConfig) error {
		c.middleware = append(c.middleware, mw...)
		return nil
	}
}

// HandleOption configures one handler registration.
type HandleOption func(*routeConfig) error

type routeConfig struct {
	name        string
	concurrency int
	prefetch    int
	middleware  []Middleware
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

// HandlerConcurrency sets how many messages this handler runs at once.
// n must be positive.
func HandlerConcurrency(n int) HandleOption {
	return func(c *routeConfig) error {
		if n <= 0 {
			return fmt.Errorf("%w: concurrency %d must be positive", ErrInvalidOption, n)
		}
		c.concurrency = n
		return nil
	}
}

// HandlerPrefetch sets how many messages the adapter may buffer ahead for
// this handler (see WithPrefetch). Default: the adapter's default.
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
// router's middleware.
func HandlerMiddleware(mw ...Middleware) HandleOption {
	return func(c *routeConfig) error {
		c.middleware = append(c.middleware, mw...)
		return nil
	}
}
