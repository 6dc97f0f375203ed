package discoverytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-microkit/microkit/discovery"
)

// Harness describes the registry under test.
type Harness struct {
	// New returns a fresh registry whose only instances are seed, all
	// healthy. The suite uses service names unique to each test, so a
	// shared server is fine. New closes what it creates in t.Cleanup.
	// A registry whose set is fixed (like the static registry) is an
	// Instancer only; the suite checks writes on one that is a Registrar.
	New func(t *testing.T, seed []discovery.Instance) discovery.Instancer
	// Settle bounds how long a change may take to show, for registries that
	// are eventually consistent; zero means 2s.
	Settle time.Duration
}

// UniqueService returns a service name no other test uses, for tests that
// share one registry server.
func UniqueService(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// Instance returns a valid instance of service numbered n, with a tag, a
// meta entry and a weight so that the suite checks every field round-trips.
func Instance(service string, n int) discovery.Instance {
	return discovery.Instance{
		ID:      fmt.Sprintf("%s-%d", service, n),
		Service: service,
		Address: "127.0.0.1",
		Port:    20000 + n,
		Tags:    []string{"v1", fmt.Sprintf("n%d", n)},
		Meta:    map[string]string{"zone": "a", "n": fmt.Sprint(n)},
		Weight:  n,
	}
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Settle <= 0 {
		h.Settle = 2 * time.Second
	}
	s := &suite{Harness: h}
	t.Run("InstancesReturnsTheHealthySetSorted", s.instancesOfSeed)
	t.Run("UnknownServiceHasNoInstances", s.unknownService)
	t.Run("WatchStartsWithTheCompleteSet", s.watchFirstSet)
	t.Run("WatchDoesNotRepeatASet", s.watchNoRepeat)
	t.Run("WatchNextHonoursContext", s.watchContext)
	t.Run("WatchCloseUnblocksNext", s.watchClose)
	if _, ok := h.New(t, nil).(discovery.ServiceLister); ok {
		t.Run("ServicesNamesEveryServiceOnce", s.services)
	}
	if _, ok := h.New(t, nil).(discovery.Registrar); !ok {
		return // read-only: nothing more to check
	}
	t.Run("RegisterShowsInInstancesAndWatch", s.register)
	t.Run("RegisterIsIdempotentAndUpdates", s.reRegister)
	t.Run("DeregisterRemovesAndIsIdempotent", s.deregister)
	t.Run("InvalidInstanceIsRejected", s.invalid)
	if hb, ok := h.New(t, nil).(discovery.Heartbeater); ok && hb.HeartbeatInterval() > 0 {
		t.Run("HeartbeatKeepsAnInstanceAndKnowsNoStranger", s.heartbeat)
	}
	if _, ok := h.New(t, nil).(discovery.RegistrationChecker); ok {
		t.Run("RegisteredFollowsRegisterAndDeregister", s.registered)
	}
}

type suite struct{ Harness }

func (s *suite) instancesOfSeed(t *testing.T) {
	svcA, a := seed("conf-a", 3)
	svcB, b := seed("conf-b", 1)
	// Register out of order: the registry must sort by ID.
	reg := s.New(t, append([]discovery.Instance{a[2], b[0], a[0]}, a[1]))
	s.eventuallyInstances(t, reg, svcA, a)
	s.eventuallyInstances(t, reg, svcB, b)

	got, err := reg.Instances(context.Background(), svcA)
	noError(t, err)
	got[0].Tags[0] = "changed by caller"
	got[0].Meta["zone"] = "changed by caller"
	again, err := reg.Instances(context.Background(), svcA)
	noError(t, err)
	equal(t, a, again, "changing a returned instance must not change the registry")
}

func (s *suite) unknownService(t *testing.T) {
	_, a := seed("conf-known", 1)
	reg := s.New(t, a)
	got, err := reg.Instances(context.Background(), UniqueService("conf-unknown"))
	noError(t, err)
	equal(t, []discovery.Instance{}, got, "Instances of an unknown service")
}

func (s *suite) watchFirstSet(t *testing.T) {
	reg, svc, a := s.seeded(t, "conf-watch", 2)
	w := s.watch(t, reg, svc)
	ctx, cancel := context.WithTimeout(context.Background(), s.Settle)
	defer cancel()
	got, err := w.Next(ctx)
	noError(t, err)
	equal(t, a, got, "first Next")
}

func (s *suite) watchNoRepeat(t *testing.T) {
	reg, svc, a := s.seeded(t, "conf-repeat", 2)
	w := s.watch(t, reg, svc)
	s.nextUntil(t, w, a)
	// Nothing changed, so Next must block until its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	got, err := w.Next(ctx)
	errorIs(t, err, context.DeadlineExceeded, "Next returned %v though nothing changed", got)
}

func (s *suite) watchContext(t *testing.T) {
	svc, a := seed("conf-ctx", 1)
	reg := s.New(t, a)
	w := s.watch(t, reg, svc)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := w.Next(ctx)
	if err == nil {
		// A registry may answer the first call from what it already
		// has; the second must see the cancelled context.
		_, err = w.Next(ctx)
	}
	errorIs(t, err, context.Canceled)
}

func (s *suite) watchClose(t *testing.T) {
	reg, svc, a := s.seeded(t, "conf-close", 1)
	w := s.watch(t, reg, svc)
	s.nextUntil(t, w, a)
	errc := make(chan error, 1)
	go func() {
		_, err := w.Next(context.Background())
		errc <- err
	}()
	noError(t, w.Close())
	noError(t, w.Close(), "Close must be idempotent")
	select {
	case err := <-errc:
		errorIs(t, err, discovery.ErrClosed)
	case <-time.After(s.Settle):
		t.Fatal("Next still blocked after Close")
	}
	_, err := w.Next(context.Background())
	errorIs(t, err, discovery.ErrClosed)
}

// services runs for registries that are ServiceListers: the seeded
// services are listed, sorted and once each (the registry may hold
// others, a shared server's), and, where the suite can write, a service
// whose last instance is deregistered is no longer listed.
func (s *suite) services(t *testing.T) {
	svcA, a := seed("conf-svcs-a", 2)
	svcB, b := seed("conf-svcs-b", 1)
	seeded := s.New(t, append(a, b...))
	lister := seeded.(discovery.ServiceLister)
	s.eventuallyServices(t, lister, []string{svcA, svcB}, nil)
	reg, ok := seeded.(discovery.Registry)
	if !ok {
		return
	}
	noError(t, reg.Deregister(context.Background(), b[0].ID))
	s.eventuallyServices(t, lister, []string{svcA}, []string{svcB})
}

func (s *suite) register(t *testing.T) {
	svc, a := seed("conf-reg", 2)
	reg := s.newRegistry(t, nil)
	w := s.watch(t, reg, svc)
	s.nextUntil(t, w, []discovery.Instance{})

	ctx := context.Background()
	noError(t, reg.Register(ctx, a[1]))
	s.nextUntil(t, w, a[1:])
	noError(t, reg.Register(ctx, a[0]))
	s.nextUntil(t, w, a)
	s.eventuallyInstances(t, reg, svc, a)
}

func (s *suite) reRegister(t *testing.T) {
	svc, a := seed("conf-rereg", 1)
	reg := s.newRegistry(t, a)
	ctx := context.Background()
	noError(t, reg.Register(ctx, a[0]))
	noError(t, reg.Register(ctx, a[0]))
	s.eventuallyInstances(t, reg, svc, a)

	moved := a[0].Clone()
	moved.Port++
	moved.Tags = []string{"v2"}
	moved.Weight = 7
	w := s.watch(t, reg, svc)
	s.nextUntil(t, w, a)
	noError(t, reg.Register(ctx, moved))
	s.nextUntil(t, w, []discovery.Instance{moved})
	s.eventuallyInstances(t, reg, svc, []discovery.Instance{moved})
}

func (s *suite) deregister(t *testing.T) {
	svc, a := seed("conf-dereg", 2)
	reg := s.newRegistry(t, a)
	ctx := context.Background()
	s.eventuallyInstances(t, reg, svc, a)
	w := s.watch(t, reg, svc)
	s.nextUntil(t, w, a)

	noError(t, reg.Deregister(ctx, a[0].ID))
	s.nextUntil(t, w, a[1:])
	noError(t, reg.Deregister(ctx, a[0].ID), "deregistering twice must not fail")
	noError(t, reg.Deregister(ctx, UniqueService("never-registered")))
	noError(t, reg.Deregister(ctx, a[1].ID))
	s.nextUntil(t, w, []discovery.Instance{})
	s.eventuallyInstances(t, reg, svc, []discovery.Instance{})
}

// heartbeat runs for registries that are Heartbeaters with an interval.
func (s *suite) heartbeat(t *testing.T) {
	reg, svc, a := s.seeded(t, "conf-beat", 1)
	hb := reg.(discovery.Heartbeater)
	ctx := context.Background()
	noError(t, hb.Heartbeat(ctx, a[0].ID))
	s.eventuallyInstances(t, reg, svc, a)
	errorIs(t, hb.Heartbeat(ctx, UniqueService("stranger")), discovery.ErrNotFound)
}

// registered checks RegistrationChecker, which Announce relies on to find
// a registration the registry lost.
func (s *suite) registered(t *testing.T) {
	seeded, _, a := s.seeded(t, "conf-registered", 1)
	reg, rc := seeded.(discovery.Registry), seeded.(discovery.RegistrationChecker)
	ctx := context.Background()
	known := func(id string, want bool) {
		t.Helper()
		got, err := rc.Registered(ctx, id)
		noError(t, err)
		if got != want {
			t.Fatalf("Registered(%s) = %v, want %v", id, got, want)
		}
	}
	known(a[0].ID, true)
	known(UniqueService("stranger"), false)
	noError(t, reg.Deregister(ctx, a[0].ID))
	known(a[0].ID, false)
	noError(t, reg.Register(ctx, a[0]))
	known(a[0].ID, true)
}

func (s *suite) invalid(t *testing.T) {
	svc, _ := seed("conf-invalid", 0)
	reg := s.newRegistry(t, nil)
	for name, in := range map[string]discovery.Instance{
		"no ID":      {Service: svc, Address: "127.0.0.1", Port: 80},
		"no service": {ID: svc + "-x", Address: "127.0.0.1", Port: 80},
		"no address": {ID: svc + "-x", Service: svc, Port: 80},
		"bad port":   {ID: svc + "-x", Service: svc, Address: "127.0.0.1", Port: 70000},
	} {
		err := reg.Register(context.Background(), in)
		if !errors.Is(err, discovery.ErrInvalidInstance) {
			t.Errorf("%s: got %v, want ErrInvalidInstance", name, err)
		}
	}
}
