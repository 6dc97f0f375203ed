package consul

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/retry"
)

// Registry is a [discovery.Registry] on a Consul agent. It is safe for
// concurrent use.
type Registry struct {
	client    *api.Client
	apiConfig *api.Config // the client's Config while New applies the options; nil after
	check     checkConfig
	logger    *slog.Logger
	waitTime  time.Duration
	backoff   retry.Backoff // of a watcher's queries after a failure
}

var (
	_ discovery.Registry            = (*Registry)(nil)
	_ discovery.Heartbeater         = (*Registry)(nil)
	_ discovery.RegistrationChecker = (*Registry)(nil)
	_ discovery.ServiceLister       = (*Registry)(nil)
)

// Option configures a Registry.
type Option func(*Registry) error

// WithLogger sets the logger of watch errors; nil means the default,
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(r *Registry) error {
		if l != nil {
			r.logger = l
		}
		return nil
	}
}

// WithWaitTime sets the longest a blocking query waits for a change before
// Consul answers with the unchanged set (and the watcher asks again). Zero
// means 1m; Consul caps it at 10m.
func WithWaitTime(d time.Duration) Option {
	return func(r *Registry) error {
		if d < 0 || d > 10*time.Minute {
			return fmt.Errorf("%w: wait time %v not in [0, 10m]", discovery.ErrInvalidOption, d)
		}
		if d > 0 {
			r.waitTime = d
		}
		return nil
	}
}

// WithWatchBackoff sets the wait before a watcher retries after a failed
// query, doubling from minimum to maximum, each wait a random time between
// half and all of it (a retry.Backoff with retry.EqualJitter), so that
// watchers that lost the agent together do not query it again together.
// Zero values mean 100ms and 5s.
func WithWatchBackoff(minimum, maximum time.Duration) Option {
	return func(r *Registry) error {
		if minimum < 0 || maximum < 0 || (maximum > 0 && maximum < minimum) {
			return fmt.Errorf("%w: watch backoff %v..%v", discovery.ErrInvalidOption, minimum, maximum)
		}
		if minimum > 0 {
			r.backoff.Initial = minimum
		}
		if maximum > 0 {
			r.backoff.Max = maximum
		}
		return nil
	}
}

// New returns a Registry talking to the agent that cfg describes; a nil cfg
// means api.DefaultConfig(), which reads the standard CONSUL_* variables
// (address, ACL token, TLS). [WithAddress], [WithToken] and
// [WithDatacenter] set the common client settings without a Config; they
// win over cfg, which New does not modify.
func New(cfg *api.Config, opts ...Option) (*Registry, error) {
	c := api.DefaultConfig()
	if cfg != nil {
		copied := *cfg
		c = &copied
	}
	r := &Registry{
		apiConfig: c,
		logger:    slog.Default(),
		waitTime:  time.Minute,
		backoff:   retry.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: retry.EqualJitter},
	}
	for _, opt := range opts {
		if opt == nil {
			continue // a nil Option is no option
		}
		if err := opt(r); err != nil {
			return nil, fmt.Errorf("consul: new: %w", err)
		}
	}
	r.backoff.Max = max(r.backoff.Max, r.backoff.Initial)
	client, err := api.NewClient(r.apiConfig)
	if err != nil {
		return nil, fmt.Errorf("consul: new: %w", err)
	}
	r.client, r.apiConfig = client, nil
	return r, nil
}

// Client returns the Consul API client, for what this package does not wrap.
func (r *Registry) Client() *api.Client { return r.client }

// Register registers the instance with the local agent, with the check
// the options chose. Registering an ID again replaces the service and its
// checks: it is idempotent.
func (r *Registry) Register(ctx context.Context, in discovery.Instance) error {
	if err := in.Validate(); err != nil {
		return fmt.Errorf("consul: register: %w", err)
	}
	reg := &api.AgentServiceRegistration{
		ID:      in.ID,
		Name:    in.Service,
		Address: in.Address,
		Port:    in.Port,
		Tags:    in.Tags,
		Meta:    in.Meta,
		Weights: &api.AgentWeights{Passing: in.EffectiveWeight(), Warning: 1},
		Check:   r.check.forInstance(in),
	}
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := r.client.Agent().ServiceRegisterOpts(reg, opts); err != nil {
		return fmt.Errorf("consul: register %s: %w", in.ID, err)
	}
	return nil
}

// Deregister removes the instance from the local agent; an ID the agent
// does not know is not an error.
func (r *Registry) Deregister(ctx context.Context, id string) error {
	err := r.client.Agent().ServiceDeregisterOpts(id, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("consul: deregister %s: %w", id, err)
	}
	return nil
}

// Heartbeat passes the instance's TTL check. Without a TTL check (see
// WithTTLCheck) it is an error. An instance the agent does not know gives
// an error wrapping discovery.ErrNotFound, so that Announce registers it
// again.
func (r *Registry) Heartbeat(ctx context.Context, id string) error {
	if r.check.ttl <= 0 {
		return fmt.Errorf("consul: heartbeat %s: no TTL check configured", id)
	}
	err := r.client.Agent().UpdateTTLOpts(checkID(id), "", api.HealthPassing, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		if isNotFound(err) {
			return fmt.Errorf("consul: heartbeat %s: %w", id, discovery.ErrNotFound)
		}
		return fmt.Errorf("consul: heartbeat %s: %w", id, err)
	}
	return nil
}

// Registered reports whether the local agent holds the service with this
// ID, whatever its checks say. discovery.Announce asks it to find a
// registration an agent restart or a reaper removed, when there is no TTL
// check to heartbeat.
func (r *Registry) Registered(ctx context.Context, id string) (bool, error) {
	_, _, err := r.client.Agent().Service(id, (&api.QueryOptions{}).WithContext(ctx))
	switch {
	case err == nil:
		return true, nil
	case isNotFound(err):
		return false, nil
	}
	return false, fmt.Errorf("consul: registered %s: %w", id, err)
}

// HeartbeatInterval returns a third of the TTL of the TTL check, or zero
// without one.
func (r *Registry) HeartbeatInterval() time.Duration { return r.check.ttl / 3 }

// Instances returns the instances of service whose checks all pass, sorted
// by ID.
func (r *Registry) Instances(ctx context.Context, service string) ([]discovery.Instance, error) {
	entries, _, err := r.client.Health().Service(service, "", true, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul: instances of %s: %w", service, err)
	}
	return toInstances(entries), nil
}

// Services returns the names of the services in the catalog of the
// agent's datacenter, sorted, Consul's own ("consul") among them.
func (r *Registry) Services(ctx context.Context) ([]string, error) {
	services, _, err := r.client.Catalog().Services((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("consul: services: %w", err)
	}
	return slices.Sorted(maps.Keys(services)), nil
}

// toInstances converts health entries to a sorted instance set.
func toInstances(entries []*api.ServiceEntry) []discovery.Instance {
	out := make([]discovery.Instance, 0, len(entries))
	for _, e := range entries {
		s := e.Service
		in := discovery.Instance{
			ID: s.ID, Service: s.Service, Address: s.Address, Port: s.Port,
			Tags: s.Tags, Meta: s.Meta, Weight: s.Weights.Passing,
		}
		if in.Address == "" && e.Node != nil {
			in.Address = e.Node.Address // Consul's rule: no service address means the node's
		}
		if len(in.Tags) == 0 {
			in.Tags = nil
		}
		if len(in.Meta) == 0 {
			in.Meta = nil
		}
		out = append(out, in)
	}
	discovery.SortInstances(out)
	return out
}

// checkID is the ID Consul gives the check registered with a service.
func checkID(serviceID string) string { return "service:" + serviceID }

// isNotFound reports whether the agent answered that it does not know the
// service or check: a 404 for both (Consul 1.14, the version CI runs).
func isNotFound(err error) bool {
	var se api.StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}
