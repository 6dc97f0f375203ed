package platform

import (
	"context"
	"errors"
)

// Base is what every service is built on: its database, its HTTP server and
// the stack that shuts them down. It is safe for concurrent use.
type Base struct {
	// DB is the service's own database.
	DB *DB
	// Server is its HTTP server, with the probes and /metrics.
	Server *Server
	// Stack shuts the service down; push what the service starts onto it.
	Stack Stack
}

// NewBase opens the database at dsn, runs the schema statements and makes
// the HTTP server of service on addr (zero means a free loopback port),
// ready when the database answers. Serve starts it.
func NewBase(ctx context.Context, deps *Deps, service, dsn, addr string, schema ...string) (_ *Base, err error) {
	b := &Base{}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.Close(context.WithoutCancel(ctx)))
		}
	}()
	if b.DB, err = OpenDB(ctx, dsn); err != nil {
		return nil, err
	}
	b.Stack.PushCloser(b.DB.Close)
	if err := b.DB.Migrate(ctx, schema...); err != nil {
		return nil, err
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if b.Server, err = NewServer(deps.Name(service), addr, deps.Logger); err != nil {
		return nil, err
	}
	b.Server.Health().AddCheck("db", b.DB.Ping)
	b.Server.Console().AddResolver("http", deps.Resolver)
	// Closes the listener if the service fails before it serves.
	b.Stack.Push(func(ctx context.Context) error {
		if b.Server.started.Load() {
			return nil
		}
		return b.Server.Shutdown(ctx)
	})
	return b, nil
}

// Serve starts the server and announces it; see Deps.Serve.
func (b *Base) Serve(ctx context.Context, deps *Deps, service string) error {
	return deps.Serve(ctx, &b.Stack, service, b.Server)
}

// URL returns the base URL of the HTTP server.
func (b *Base) URL() string { return b.Server.URL() }

// Close runs the stack: deregister, stop serving, then whatever the service
// pushed, then close the database. It is idempotent.
func (b *Base) Close(ctx context.Context) error { return b.Stack.Close(ctx) }
