package consul

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/go-microkit/microkit/discovery"
)

// checkConfig is the health check registered with every instance.
type checkConfig struct {
	ttl             time.Duration
	httpPath        string // a path on the instance, or an absolute URL
	grpc            bool
	interval        time.Duration
	timeout         time.Duration
	deregisterAfter time.Duration
}

// WithTTLCheck registers a TTL check: the instance is passing only while
// it heartbeats (Registry.Heartbeat, which Announce calls every ttl/3).
// Without a check option an instance has no check and always passes.
func WithTTLCheck(ttl time.Duration) Option {
	return func(r *Registry) error {
		if ttl < time.Second {
			return fmt.Errorf("%w: TTL %v under 1s", discovery.ErrInvalidOption, ttl)
		}
		r.check.ttl = ttl
		return nil
	}
}

// WithHTTPCheck registers an HTTP check that the agent runs every interval
// against path on the instance (e.g. "/readyz", served by
// discovery.Health), or against path itself if it is an absolute URL.
func WithHTTPCheck(path string, interval time.Duration) Option {
	return func(r *Registry) error {
		if path == "" || interval <= 0 {
			return fmt.Errorf("%w: HTTP check %q every %v", discovery.ErrInvalidOption, path, interval)
		}
		r.check.httpPath, r.check.interval = path, interval
		return nil
	}
}

// WithGRPCCheck registers a gRPC health check (grpc.health.v1) that the
// agent runs every interval against the instance's address.
func WithGRPCCheck(interval time.Duration) Option {
	return func(r *Registry) error {
		if interval <= 0 {
			return fmt.Errorf("%w: gRPC check every %v", discovery.ErrInvalidOption, interval)
		}
		r.check.grpc, r.check.interval = true, interval
		return nil
	}
}

// WithCheckTimeout sets the timeout of HTTP and gRPC checks; zero means
// Consul's default of 10s.
func WithCheckTimeout(d time.Duration) Option {
	return func(r *Registry) error {
		if d < 0 {
			return fmt.Errorf("%w: negative check timeout", discovery.ErrInvalidOption)
		}
		r.check.timeout = d
		return nil
	}
}

// WithDeregisterCriticalServiceAfter makes Consul deregister an instance
// whose check has been critical for d, so that a crashed process does not
// linger in the catalog. Zero means never. Consul reaps every 30s or so and
// ignores values under 1m.
func WithDeregisterCriticalServiceAfter(d time.Duration) Option {
	return func(r *Registry) error {
		if d < 0 {
			return fmt.Errorf("%w: negative DeregisterCriticalServiceAfter", discovery.ErrInvalidOption)
		}
		r.check.deregisterAfter = d
		return nil
	}
}

// forInstance returns the agent check for in, or nil for none.
func (c checkConfig) forInstance(in discovery.Instance) *api.AgentServiceCheck {
	chk := &api.AgentServiceCheck{Name: in.Service + " health"}
	switch {
	case c.ttl > 0:
		chk.TTL = c.ttl.String()
	case c.httpPath != "":
		chk.HTTP = c.httpPath
		if !strings.Contains(c.httpPath, "://") {
			chk.HTTP = "http://" + in.Addr() + "/" + strings.TrimPrefix(c.httpPath, "/")
		}
		chk.Interval = c.interval.String()
	case c.grpc:
		chk.GRPC = in.Addr()
		chk.Interval = c.interval.String()
	default:
		return nil
	}
	if c.timeout > 0 && chk.TTL == "" {
		chk.Timeout = c.timeout.String()
	}
	if c.deregisterAfter > 0 {
		chk.DeregisterCriticalServiceAfter = c.deregisterAfter.String()
	}
	return chk
}
