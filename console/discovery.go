package console

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-microkit/microkit/discovery"
)

// ServiceResolver is what the console reads of a discovery resolver
// (*discovery.Resolver has both methods).
type ServiceResolver interface {
	// Services lists the services the resolver watches.
	Services() []string
	// Status is what it knows of one.
	Status(service string) discovery.ServiceStatus
}

type resolverSource struct {
	name string
	r    ServiceResolver
}

// AddResolver shows what r serves: each service's instances, the ones
// ejected as outliers, and whether the set is stale. name tells resolvers
// apart when there are several (e.g. "http", "grpc").
func (c *Console) AddResolver(name string, r ServiceResolver) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.services = append(c.services, &resolverSource{name: name, r: r})
}

// ServiceView is one service as a resolver sees it.
type ServiceView struct {
	// Resolver is the name the resolver was added with.
	Resolver string `json:"resolver"`
	// Service is the service's name.
	Service string `json:"service"`
	// Instances are those the resolver serves, ejected ones marked.
	Instances []InstanceView `json:"instances"`
	// Stale is true while the set is the last known one, the registry
	// unreachable or its answer held back as suspect (until HeldUntil).
	Stale     bool      `json:"stale"`
	HeldUntil time.Time `json:"held_until,omitzero"`
	// LastError is the last watch error, "" once the watch recovered.
	LastError string `json:"last_error,omitempty"`
	// Healthy counts the instances not ejected.
	Healthy int `json:"healthy"`
}

// InstanceView is one instance of a service.
type InstanceView struct {
	ID      string            `json:"id"`
	Address string            `json:"address"`
	Weight  int               `json:"weight"`
	Tags    []string          `json:"tags,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
	Ejected bool              `json:"ejected"`
	// EjectedUntil is, while ejected, when the instance is picked again.
	EjectedUntil time.Time `json:"ejected_until,omitzero"`
}

// DiscoveryView is the discovery page.
type DiscoveryView struct {
	Services []ServiceView `json:"services"`
	// Attention counts the services that are stale, have an ejected
	// instance, or have none.
	Attention int `json:"attention"`
}

func (c *Console) discoveryViews(*http.Request) (any, error) { return c.readDiscovery(), nil }

func (c *Console) readDiscovery() DiscoveryView {
	c.mu.Lock()
	sources := slices.Clone(c.services)
	c.mu.Unlock()
	out := DiscoveryView{Services: []ServiceView{}}
	for _, s := range sources {
		names := s.r.Services()
		slices.Sort(names)
		for _, name := range names {
			st := s.r.Status(name)
			v := ServiceView{Resolver: s.name, Service: name, Stale: st.Stale, HeldUntil: st.HeldUntil, Instances: []InstanceView{}}
			if st.LastError != nil {
				v.LastError = st.LastError.Error()
			}
			for _, in := range st.Instances {
				ej := slices.Contains(st.Ejected, in.ID)
				if !ej {
					v.Healthy++
				}
				v.Instances = append(v.Instances, InstanceView{ID: in.ID, Address: in.Addr(), Weight: in.EffectiveWeight(),
					Tags: in.Tags, Meta: in.Meta, Ejected: ej, EjectedUntil: st.EjectedUntil[in.ID]})
			}
			if v.Stale || v.Healthy < len(v.Instances) || len(v.Instances) == 0 {
				out.Attention++
			}
			out.Services = append(out.Services, v)
		}
	}
	slices.SortStableFunc(out.Services, func(a, b ServiceView) int {
		return strings.Compare(a.Resolver+"\x00"+a.Service, b.Resolver+"\x00"+b.Service)
	})
	return out
}
