package platform

import (
	"context"
	"errors"
	"sync"

	"github.com/go-microkit/microkit/console"
)

// Stack is a list of shutdown functions run in reverse order of Push, once.
// It is safe for concurrent use.
type Stack struct {
	mu    sync.Mutex
	fns   []func(context.Context) error
	done  bool
	first error
}

// Push adds fn, to be run before the functions pushed earlier.
func (s *Stack) Push(fn func(context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fns = append(s.fns, fn)
}

// PushCloser adds a func() error such as (*sql.DB).Close.
func (s *Stack) PushCloser(fn func() error) {
	s.Push(func(context.Context) error { return fn() })
}

// Close runs the functions, last pushed first, and joins their errors. A
// second call returns the first call's result.
func (s *Stack) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return s.first
	}
	s.done = true
	var errs []error
	for i := len(s.fns) - 1; i >= 0; i-- {
		if err := s.fns[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	s.fns = nil
	s.first = errors.Join(errs...)
	return s.first
}

// Serve starts srv, announces it as service (at AdvertisePort when set,
// with its console's path under console.MetaKey) and pushes their shutdown
// (deregister and drain, then stop serving) onto stack.
func (d *Deps) Serve(ctx context.Context, stack *Stack, service string, srv *Server) error {
	srv.Start()
	stack.Push(srv.Shutdown)
	port := srv.Port()
	if d.AdvertisePort != 0 {
		port = d.AdvertisePort
	}
	a, err := d.Announce(ctx, service, port, srv.Health(), "", map[string]string{console.MetaKey: srv.Console().Path()})
	if err != nil {
		return err
	}
	stack.Push(a.Close)
	return nil
}
