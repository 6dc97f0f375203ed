package discoverytest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/go-microkit/microkit/discovery"
)

// seed returns n instances of a fresh service.
func seed(prefix string, n int) (string, []discovery.Instance) {
	svc := UniqueService(prefix)
	out := make([]discovery.Instance, n)
	for i := range out {
		out[i] = Instance(svc, i+1)
	}
	return svc, out
}

// newRegistry returns a fresh registry of seed that the suite may write.
func (s *suite) newRegistry(t *testing.T, seed []discovery.Instance) discovery.Registry {
	t.Helper()
	reg, ok := s.New(t, seed).(discovery.Registry)
	if !ok {
		t.Fatal("the registry is no discovery.Registrar")
	}
	return reg
}

// watch starts a watch closed at the end of the test.
func (s *suite) watch(t *testing.T, reg discovery.Instancer, service string) discovery.Watcher {
	t.Helper()
	w, err := reg.Watch(context.Background(), service)
	noError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// seeded returns a registry holding n instances of a fresh service, once
// Instances shows them.
func (s *suite) seeded(t *testing.T, prefix string, n int) (discovery.Instancer, string, []discovery.Instance) {
	t.Helper()
	svc, a := seed(prefix, n)
	reg := s.New(t, a)
	s.eventuallyInstances(t, reg, svc, a)
	return reg, svc, a
}

// eventuallyInstances waits until Instances(service) equals want.
func (s *suite) eventuallyInstances(t *testing.T, reg discovery.Instancer, service string, want []discovery.Instance) {
	t.Helper()
	var got []discovery.Instance
	var err error
	deadline := time.Now().Add(s.Settle)
	for {
		got, err = reg.Instances(context.Background(), service)
		if err == nil && discovery.EqualSets(got, want) {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Instances(%q): %v", service, err)
	}
	t.Fatalf("Instances(%q) after %v:\n got %v\nwant %v", service, s.Settle, got, want)
}

// eventuallyServices waits until Services lists every name of listed and
// none of absent; every answer must be sorted, without duplicates.
func (s *suite) eventuallyServices(t *testing.T, reg discovery.ServiceLister, listed, absent []string) {
	t.Helper()
	var got []string
	var err error
	deadline := time.Now().Add(s.Settle)
	for {
		got, err = reg.Services(context.Background())
		if err == nil {
			if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
				t.Fatalf("Services: %v, not sorted or with duplicates", got)
			}
			if !slices.ContainsFunc(listed, func(n string) bool { return !slices.Contains(got, n) }) &&
				!slices.ContainsFunc(absent, func(n string) bool { return slices.Contains(got, n) }) {
				return
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Services: %v", err)
	}
	t.Fatalf("Services after %v: %v, want %v listed and %v not", s.Settle, got, listed, absent)
}

// nextUntil calls Next until it returns want, failing after Settle. Sets
// on the way are allowed (an eventually consistent registry may show an
// intermediate state) but every one must be a complete, sorted set.
func (s *suite) nextUntil(t *testing.T, w discovery.Watcher, want []discovery.Instance) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.Settle)
	defer cancel()
	var last []discovery.Instance
	for {
		got, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("watch did not reach the expected set:\nwant %v\nlast %v\nerr %v", want, last, err)
		}
		if discovery.EqualSets(got, want) {
			return
		}
		last = got
	}
}

func noError(t *testing.T, err error, msg ...string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%v: unexpected error: %v", msg, err)
	}
}

func errorIs(t *testing.T, err, target error, msgAndArgs ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v %v", err, target, msgAndArgs)
	}
}

// equal compares instance sets, treating nil and empty alike.
func equal(t *testing.T, want, got []discovery.Instance, what string) {
	t.Helper()
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if !discovery.EqualSets(want, got) {
		t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
	}
}
