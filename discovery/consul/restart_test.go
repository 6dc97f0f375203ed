package consul_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/consul"
	"github.com/go-microkit/microkit/internal/consultest"
)

// Stopping the agent leaves the resolver serving the last set (and saying
// it is stale); a restarted agent, whose index starts over lower, resumes
// the watch, and Announce registers the instance again.
func TestAgentRestart(t *testing.T) {
	ctx := context.Background()
	ag := consultest.StartAgent(t)
	// A long wait time: if the watch did not reset its index after the
	// restart, its blocking query would hang far past the test's bounds.
	reg := registryAt(t, ag.Addr(), consul.WithTTLCheck(10*time.Second), consul.WithWaitTime(5*time.Minute))
	const service = "restart"

	// Push the agent's raft index up, so that the restarted agent's index
	// is lower than the one the watcher holds.
	kv := reg.Client().KV()
	for i := range 60 {
		if _, err := kv.Put(&api.KVPair{Key: fmt.Sprint("bump/", i), Value: []byte("x")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	a := instance(service, 1, 9201)
	ann, err := discovery.Announce(ctx, reg, a, discovery.WithHeartbeatInterval(50*time.Millisecond),
		discovery.WithAnnounceLogger(quietLogger))
	if err != nil {
		t.Fatal(err)
	}
	defer ann.Close(ctx)

	r := fastResolver(t, reg)
	if _, err := r.Pick(ctx, service); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the instance in the snapshot", func() bool {
		return slices.Equal(ids(r.Status(service).Instances), []string{a.ID})
	})

	ag.Kill()
	waitFor(t, 5*time.Second, "the resolver to notice the agent is gone", func() bool { return r.Status(service).Stale })
	for range 10 {
		ep, err := r.Pick(ctx, service)
		if err != nil || ep.Instance().ID != a.ID {
			t.Fatalf("with the agent down: %v, %v", ep, err)
		}
		ep.Done(nil)
	}

	ag.Start(t) // a dev agent starts empty: Announce must register again
	b := instance(service, 2, 9202)
	annB, err := discovery.Announce(ctx, reg, b, discovery.WithHeartbeatInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer annB.Close(ctx)
	defer func() {
		if t.Failed() {
			t.Logf("resolver status at the end: %+v", r.Status(service))
		}
	}()
	waitFor(t, 10*time.Second, "the watch to resume with both instances", func() bool {
		st := r.Status(service)
		return !st.Stale && slices.Equal(ids(st.Instances), []string{a.ID, b.ID})
	})
}

// A watcher idle across an agent restart asks the new agent with the old,
// higher index; Consul answers after the wait time with a lower index, and
// the watcher must reset so that it sees the new agent's changes at once.
func TestWatchResetsAnIndexThatGoesBackwards(t *testing.T) {
	ctx := context.Background()
	ag := consultest.StartAgent(t)
	// The old index makes the first query after the restart wait the whole
	// wait time; the reset then makes the next change show at once. A
	// watcher that kept the old index would wait the full time again, past
	// the last step's bound.
	const waitTime = 4 * time.Second
	reg := registryAt(t, ag.Addr(), consul.WithWaitTime(waitTime))
	const service = "backwards"
	kv := reg.Client().KV()
	for i := range 60 {
		if _, err := kv.Put(&api.KVPair{Key: fmt.Sprint("bump/", i), Value: []byte("x")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	x, y, z := instance(service, 1, 9401), instance(service, 2, 9402), instance(service, 3, 9403)
	if err := reg.Register(ctx, x); err != nil {
		t.Fatal(err)
	}
	w, err := reg.Watch(ctx, service)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	next := func(within time.Duration, want ...string) {
		t.Helper()
		nctx, cancel := context.WithTimeout(ctx, within)
		defer cancel()
		for {
			set, err := w.Next(nctx)
			if err != nil {
				t.Fatalf("waiting for %v: %v", want, err)
			}
			if slices.Equal(ids(set), want) {
				return
			}
		}
	}
	next(10*time.Second, x.ID)

	ag.Kill()
	ag.Start(t) // between two Next calls: the watcher sees no error
	if err := reg.Register(ctx, y); err != nil {
		t.Fatal(err)
	}
	next(2*waitTime, y.ID) // the answer at the end of the wait, with the lower index
	// With the index reset, the next change shows as soon as it happens,
	// not after the new agent's index has climbed past the old one.
	if err := reg.Register(ctx, z); err != nil {
		t.Fatal(err)
	}
	next(waitTime*3/4, y.ID, z.ID)
}

// An agent killed and restarted empty, with instances registered with an
// HTTP check (no heartbeats): Announce registers the instance again within
// its recheck interval of the agent being back, and the resolver, which
// gets an empty answer from the new agent first, never serves an empty
// set meanwhile.
func TestAgentRestartedEmptyWithHTTPCheck(t *testing.T) {
	ctx := context.Background()
	ag := consultest.StartAgent(t)
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer ready.Close()
	reg := registryAt(t, ag.Addr(), consul.WithHTTPCheck(ready.URL, time.Second), consul.WithWaitTime(2*time.Second))
	const service = "restart-http"
	port := ready.Listener.Addr().(*net.TCPAddr).Port
	in := instance(service, 1, port)
	const recheck = 500 * time.Millisecond
	ann, err := discovery.Announce(ctx, reg, in, discovery.WithRecheckInterval(recheck), discovery.WithAnnounceLogger(quietLogger))
	if err != nil {
		t.Fatal(err)
	}
	defer ann.Close(ctx)
	r := fastResolver(t, reg)
	waitFor(t, 10*time.Second, "the instance passing its HTTP check", func() bool {
		_, err := r.Pick(ctx, service)
		return err == nil && len(r.Status(service).Instances) == 1
	})

	// Pick all along, as a client under load would.
	stop := make(chan struct{})
	var picks, failures atomic.Int64
	var lastErr atomic.Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			ep, err := r.Pick(ctx, service)
			picks.Add(1)
			if err != nil {
				failures.Add(1)
				lastErr.Store(err)
				continue
			}
			ep.Done(nil)
		}
	}()
	defer func() {
		close(stop)
		<-done
	}()

	ag.Kill()
	waitFor(t, 5*time.Second, "the resolver to notice the agent is gone", func() bool { return r.Status(service).Stale })
	ag.Start(t) // empty: it knows no service
	restarted := time.Now()
	client := reg.Client().Agent()
	waitFor(t, recheck+5*time.Second, "Announce to register the instance again", func() bool {
		_, _, err := client.Service(in.ID, nil)
		return err == nil
	})
	t.Logf("registered again %v after the agent restarted (recheck interval %v)", time.Since(restarted).Round(time.Millisecond), recheck)
	waitFor(t, 15*time.Second, "the resolver to take the registry's answer again", func() bool {
		st := r.Status(service)
		return !st.Stale && slices.Equal(ids(st.Instances), []string{in.ID})
	})
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d picks failed during the restart; last: %v", n, picks.Load(), lastErr.Load())
	}
}

// fastResolver returns a resolver over reg that retries a failed watch
// within 100ms, closed at the end of the test.
func fastResolver(t *testing.T, reg discovery.Instancer) *discovery.Resolver {
	t.Helper()
	r, err := discovery.NewResolver(reg, discovery.WithLogger(quietLogger),
		discovery.WithWatchBackoff(10*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}
