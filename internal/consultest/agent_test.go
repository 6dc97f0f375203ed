package consultest_test

import (
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/go-microkit/microkit/internal/consultest"
)

// A registration survives nothing: the agent started again after a crash
// is empty, on the same address.
func TestAgentRestartsEmpty(t *testing.T) {
	a := consultest.StartAgent(t)
	addr := a.Addr()
	reg := &api.AgentServiceRegistration{ID: "svc-1", Name: "svc", Address: "127.0.0.1", Port: 1}
	if err := a.Client(t).Agent().ServiceRegister(reg); err != nil {
		t.Fatal(err)
	}
	services, err := a.Client(t).Agent().Services()
	if err != nil || services["svc-1"] == nil {
		t.Fatalf("services %v (%v), want svc-1", services, err)
	}
	a.Kill()
	a.Kill() // idempotent
	if _, err := a.Client(t).Agent().Services(); err == nil {
		t.Fatal("a killed agent still answers")
	}
	a.Start(t)
	if a.Addr() != addr {
		t.Fatalf("address %s after restart, want %s", a.Addr(), addr)
	}
	services, err = a.Client(t).Agent().Services()
	if err != nil || len(services) != 0 {
		t.Fatalf("services %v (%v) after restart, want none", services, err)
	}
}
