package discoverytarget

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/gateway"
)

// ErrInvalidOption is wrapped by New's errors for invalid arguments.
var ErrInvalidOption = errors.New("discoverytarget: invalid option")

// Target is a gateway.Target for one discovered service. It is safe for
// concurrent use.
type Target struct {
	resolver *discovery.Resolver
	service  string
	scheme   string
}

// Option configures New.
type Option func(*Target) error

// WithScheme sets the scheme of the instances' URLs, "http" (the default)
// or "https".
func WithScheme(scheme string) Option {
	return func(t *Target) error {
		if scheme != "http" && scheme != "https" {
			return fmt.Errorf("%w: scheme %q", ErrInvalidOption, scheme)
		}
		t.scheme = scheme
		return nil
	}
}

// New returns a Target for service, resolved by r. The resolver is the
// caller's: it outlives the gateway and the caller closes it.
func New(r *discovery.Resolver, service string, opts ...Option) (*Target, error) {
	if r == nil || service == "" {
		return nil, fmt.Errorf("%w: need a resolver and a service name", ErrInvalidOption)
	}
	t := &Target{resolver: r, service: service, scheme: "http"}
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		if err := o(t); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Pick picks an instance of the service. When there is none the error
// wraps both gateway.ErrNoUpstream (the gateway answers 503) and the
// resolver's error.
func (t *Target) Pick(ctx context.Context) (*url.URL, func(error), error) {
	ep, err := t.resolver.Pick(ctx, t.service)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: service %q: %w", gateway.ErrNoUpstream, t.service, err)
	}
	return &url.URL{Scheme: t.scheme, Host: ep.Addr()}, ep.Done, nil
}

// String returns the service name.
func (t *Target) String() string { return t.service }
