package discovery

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-microkit/microkit/breaker"
)

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrInvalidOption is wrapped by every constructor error caused by an
	// invalid option value.
	ErrInvalidOption = errors.New("discovery: invalid option")
	// ErrInvalidInstance is wrapped when an Instance lacks an ID, Service,
	// Address or valid Port.
	ErrInvalidInstance = errors.New("discovery: invalid instance")
	// ErrNoInstances is wrapped when a service has no healthy instance to
	// pick. It also matches breaker.ErrNotSent: a call with no instance to
	// go to was never sent, which says nothing about the service's health,
	// so a breaker's default classifier ignores it rather than trip on a
	// service that is still starting or re-registering.
	ErrNoInstances error = noInstancesError{}
	// ErrNotFound is returned by Heartbeat for an instance ID the registry
	// does not know (for example after a registry restart); the caller
	// registers the instance again.
	ErrNotFound = errors.New("discovery: instance not found")
	// ErrClosed is returned by calls on a closed Registry, Watcher or
	// Resolver.
	ErrClosed = errors.New("discovery: closed")
)

// noInstancesError is ErrNoInstances: a comparable value, so that
// errors.Is matches it, that also matches breaker.ErrNotSent.
type noInstancesError struct{}

func (noInstancesError) Error() string { return "discovery: no healthy instances" }

func (noInstancesError) Is(target error) bool { return target == breaker.ErrNotSent }

// Instance is one running copy of a service, reachable at Address:Port.
type Instance struct {
	// ID is unique across all instances of all services.
	ID string
	// Service is the logical name clients resolve, e.g. "product-service".
	Service string
	// Address is a host name or IP address.
	Address string
	// Port is the TCP port, 1 to 65535.
	Port int
	// Tags are free-form labels; their order is kept.
	Tags []string
	// Meta is free-form key/value metadata.
	Meta map[string]string
	// Weight is the relative share of traffic for the weighted balancer;
	// zero means 1, and weights above MaxWeight count as MaxWeight.
	Weight int
}

// Addr returns Address and Port joined as "host:port".
func (i Instance) Addr() string {
	return net.JoinHostPort(i.Address, strconv.Itoa(i.Port))
}

// MaxWeight caps an instance's weight: shares finer than a millionth mean
// nothing, and a cap keeps the balancers' sums and products of weights
// from overflowing whatever weights a registry holds.
const MaxWeight = 1 << 20

// EffectiveWeight returns Weight capped at MaxWeight, or 1 when Weight is
// zero or negative.
func (i Instance) EffectiveWeight() int {
	if i.Weight <= 0 {
		return 1
	}
	return min(i.Weight, MaxWeight)
}

// Validate reports whether the instance has everything a registry needs; the
// error wraps ErrInvalidInstance.
func (i Instance) Validate() error {
	switch {
	case strings.TrimSpace(i.ID) == "":
		return fmt.Errorf("%w: empty ID", ErrInvalidInstance)
	case strings.TrimSpace(i.Service) == "":
		return fmt.Errorf("%w: instance %q: empty Service", ErrInvalidInstance, i.ID)
	case strings.TrimSpace(i.Address) == "":
		return fmt.Errorf("%w: instance %q: empty Address", ErrInvalidInstance, i.ID)
	case i.Port < 1 || i.Port > 65535:
		return fmt.Errorf("%w: instance %q: port %d out of range", ErrInvalidInstance, i.ID, i.Port)
	case i.Weight < 0:
		return fmt.Errorf("%w: instance %q: negative weight %d", ErrInvalidInstance, i.ID, i.Weight)
	}
	return nil
}

// Equal reports whether two instances are the same in every field. A nil and
// an empty Tags or Meta are equal, and a zero Weight equals a Weight of 1.
func (i Instance) Equal(o Instance) bool {
	return i.ID == o.ID && i.Service == o.Service && i.Address == o.Address &&
		i.Port == o.Port && i.EffectiveWeight() == o.EffectiveWeight() &&
		slices.Equal(i.Tags, o.Tags) && maps.Equal(i.Meta, o.Meta)
}

// Clone returns a deep copy, so that callers may not change a registry's
// Tags or Meta through a returned Instance.
func (i Instance) Clone() Instance {
	i.Tags = slices.Clone(i.Tags)
	i.Meta = maps.Clone(i.Meta)
	return i
}

// CloneInstances returns a deep copy of set (see [Instance.Clone]).
func CloneInstances(set []Instance) []Instance {
	out := make([]Instance, len(set))
	for i, in := range set {
		out[i] = in.Clone()
	}
	return out
}

// SortInstances sorts instances by ID, the order in which every registry
// returns them.
func SortInstances(instances []Instance) {
	slices.SortFunc(instances, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
}

// EqualSets reports whether two instance sets sorted by ID are equal.
func EqualSets(a, b []Instance) bool {
	return slices.EqualFunc(a, b, Instance.Equal)
}

// Instancer is the read port of a service registry, all a [Resolver] needs:
// Consul, the static list ([Static]) or the in-process [Memory] registry.
// Implementations are safe for concurrent use.
type Instancer interface {
	// Instances returns the healthy instances of service sorted by ID; an
	// unknown service has none, which is not an error.
	Instances(ctx context.Context, service string) ([]Instance, error)
	// Watch starts a stream of the complete healthy set of service. The
	// context bounds only the setup; the Watcher lives until Close.
	Watch(ctx context.Context, service string) (Watcher, error)
}

// ServiceLister is implemented by registries that can name the services
// they hold, for a caller that looks at a whole fleet rather than at the
// services it calls (an aggregated operator's console, a dashboard).
// [Memory], [Static] and the Consul adapter implement it.
type ServiceLister interface {
	// Services returns the names of the services that have at least one
	// registered instance, healthy or not, sorted and without duplicates:
	// Instances of a listed name may be empty while all its instances
	// fail their checks.
	Services(ctx context.Context) ([]string, error)
}

// Registrar is the write port of a service registry, all [Announce] needs.
// A registry whose set is fixed, like [Static], does not implement it.
// Implementations are safe for concurrent use.
type Registrar interface {
	// Register adds the instance or, when its ID is known, replaces it:
	// registering twice is not an error.
	Register(ctx context.Context, instance Instance) error
	// Deregister removes the instance with the given ID. Removing an
	// unknown ID is not an error, so that shutdown paths may retry.
	Deregister(ctx context.Context, id string) error
}

// Registry is a service registry that is both read and written: Consul or
// the in-process [Memory] registry, for a process that announces its own
// instances and resolves others'.
type Registry interface {
	Instancer
	Registrar
}

// Watcher is a stream of complete instance sets of one service.
type Watcher interface {
	// Next returns the current set on its first call and then blocks until
	// the set differs from the one it last returned. An error does not end
	// the stream: the next call retries (after a backoff, where the
	// registry is remote) and, once it succeeds, returns the current set
	// even if unchanged, so that the caller knows the stream recovered.
	// After Close, Next returns ErrClosed.
	Next(ctx context.Context) ([]Instance, error)
	// Close ends the stream and releases its resources; it is idempotent.
	Close() error
}

// Heartbeater is implemented by registries whose instances stay healthy only
// while they report in (a TTL check). Announce calls Heartbeat every
// HeartbeatInterval.
type Heartbeater interface {
	// Heartbeat marks the instance healthy for another TTL. It returns an
	// error wrapping ErrNotFound if the registry no longer knows the ID.
	Heartbeat(ctx context.Context, id string) error
	// HeartbeatInterval is how often to call Heartbeat; zero means the
	// registry needs no heartbeats.
	HeartbeatInterval() time.Duration
}

// RegistrationChecker is implemented by registries that can tell whether
// they still hold a registration. [Announce] asks every recheck interval
// (see WithRecheckInterval) when the registry has no TTL check to
// heartbeat, and registers the instance again when it is gone (a registry
// restarted empty, a registration reaped or removed by hand).
type RegistrationChecker interface {
	// Registered reports whether the registry holds the instance with
	// this ID, whatever its health.
	Registered(ctx context.Context, id string) (bool, error)
}
