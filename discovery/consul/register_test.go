package consul_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/consul"
	"github.com/go-microkit/microkit/discovery/discoverytest"
)

func TestRegisterWritesChecksAndWeights(t *testing.T) {
	ctx := context.Background()
	reg := sharedRegistry(t, consul.WithTTLCheck(30*time.Second), consul.WithDeregisterCriticalServiceAfter(time.Minute))
	service := discoverytest.UniqueService("reg")
	cleanupService(t, reg, service)
	in := instance(service, 1, 9100)
	in.Weight = 5
	if err := reg.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(ctx, in); err != nil {
		t.Fatal("second Register:", err)
	}
	checks, err := reg.Client().Agent().ChecksWithFilter(`ServiceID == "` + in.ID + `"`)
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 1 {
		t.Fatalf("checks after two registrations: %v", checks)
	}
	for _, c := range checks {
		if c.Type != "ttl" || c.Status != api.HealthCritical {
			t.Fatalf("check %+v: want a TTL check that starts critical", c)
		}
	}
	svc, _, err := reg.Client().Agent().Service(in.ID, nil)
	if err != nil || svc.Weights.Passing != 5 {
		t.Fatalf("service %+v, %v", svc, err)
	}
	if got := reg.HeartbeatInterval(); got != 10*time.Second {
		t.Fatalf("HeartbeatInterval = %v", got)
	}
	if err := reg.Heartbeat(ctx, "never-registered-"+service); !errors.Is(err, discovery.ErrNotFound) {
		t.Fatalf("heartbeat of an unknown instance: %v", err)
	}
	noTTL := sharedRegistry(t)
	if err := noTTL.Heartbeat(ctx, in.ID); err == nil {
		t.Fatal("heartbeat without a TTL check must fail")
	}
	if noTTL.HeartbeatInterval() != 0 {
		t.Fatal("HeartbeatInterval without a TTL check must be 0")
	}
}

// The agent does not list check definitions, so this test reads what
// Register sends: an HTTP server in the agent's place records the body.
func TestRegisterSendsTheCheck(t *testing.T) {
	bodies := make(chan api.AgentServiceRegistration, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reg api.AgentServiceRegistration
		if r.URL.Path == "/v1/agent/service/register" && json.NewDecoder(r.Body).Decode(&reg) == nil {
			if r.URL.Query().Get("replace-existing-checks") != "true" {
				reg.Name = "replace-existing-checks missing"
			}
			bodies <- reg
		}
	}))
	defer srv.Close()
	in := instance("orders", 1, 8080)
	tests := []struct {
		name string
		opts []consul.Option
		want api.AgentServiceCheck
	}{
		{"no check", nil, api.AgentServiceCheck{}},
		{"TTL", []consul.Option{consul.WithTTLCheck(15 * time.Second), consul.WithDeregisterCriticalServiceAfter(time.Minute)},
			api.AgentServiceCheck{TTL: "15s", DeregisterCriticalServiceAfter: "1m0s"}},
		{"HTTP path", []consul.Option{consul.WithHTTPCheck("readyz", 10*time.Second), consul.WithCheckTimeout(2 * time.Second)},
			api.AgentServiceCheck{HTTP: "http://127.0.0.1:8080/readyz", Interval: "10s", Timeout: "2s"}},
		{"HTTP URL", []consul.Option{consul.WithHTTPCheck("https://10.0.0.9/health", time.Second)},
			api.AgentServiceCheck{HTTP: "https://10.0.0.9/health", Interval: "1s"}},
		{"gRPC", []consul.Option{consul.WithGRPCCheck(5 * time.Second)},
			api.AgentServiceCheck{GRPC: "127.0.0.1:8080", Interval: "5s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := registryAt(t, srv.Listener.Addr().String(), tt.opts...)
			if err := reg.Register(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			got := <-bodies
			if got.ID != in.ID || got.Name != in.Service || got.Port != in.Port || got.Weights.Passing != 1 {
				t.Fatalf("registration %+v", got)
			}
			var check api.AgentServiceCheck
			if got.Check != nil {
				check = *got.Check
				check.Name = ""
			}
			if !reflect.DeepEqual(check, tt.want) {
				t.Fatalf("check %+v, want %+v", check, tt.want)
			}
		})
	}
}
