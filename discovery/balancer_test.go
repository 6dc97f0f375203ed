package discovery_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-microkit/microkit/discovery"
)

func TestBalancersSpreadOverEveryEndpoint(t *testing.T) {
	for name, newBalancer := range map[string]func() discovery.Balancer{
		"RoundRobin": discovery.RoundRobin, "Random": discovery.Random,
		"Weighted": discovery.Weighted, "LeastRequest": discovery.LeastRequest,
	} {
		t.Run(name, func(t *testing.T) {
			r := newResolver(t, memoryWith(t, nil, inst("svc", 0), inst("svc", 1), inst("svc", 2)), discovery.WithBalancer(newBalancer))
			counts := map[string]int{}
			for range 3000 {
				counts[pickID(t, r, "svc")]++
			}
			for _, id := range []string{"svc-a", "svc-b", "svc-c"} {
				// Each should get about 1000; 600 is a bound that random
				// choice misses with negligible probability.
				if counts[id] < 600 {
					t.Fatalf("%s got %d of 3000 picks: %v", id, counts[id], counts)
				}
			}
		})
	}
}

func TestWeightedFollowsWeights(t *testing.T) {
	light, heavy := inst("svc", 0), inst("svc", 1)
	heavy.Weight = 4
	r := newResolver(t, memoryWith(t, nil, light, heavy), discovery.WithBalancer(discovery.Weighted))
	counts := map[string]int{}
	const n = 10000
	for range n {
		counts[pickID(t, r, "svc")]++
	}
	// Expect 8000 for the heavy one; the standard deviation is 40.
	if got := counts[heavy.ID]; got < 7600 || got > 8400 {
		t.Fatalf("weight 4 of 5 got %d of %d picks", got, n)
	}
}

func TestLeastRequestAvoidsBusyEndpoint(t *testing.T) {
	ctx := context.Background()
	r := newResolver(t, memoryWith(t, nil, inst("svc", 0), inst("svc", 1)), discovery.WithBalancer(discovery.LeastRequest))
	busy := must[*discovery.Endpoint](t)(r.Pick(ctx, "svc"))
	for range 100 {
		ep := must[*discovery.Endpoint](t)(r.Pick(ctx, "svc"))
		if ep == busy {
			t.Fatal("picked the endpoint with a request in flight over an idle one")
		}
		ep.Done(nil)
	}
	busy.Done(nil)
	if busy.InFlight() != 0 {
		t.Fatalf("InFlight = %d after Done", busy.InFlight())
	}
}

// slowAndFast starts two real HTTP servers registered as "catalog": one
// answers at once, the other after delay.
func slowAndFast(t *testing.T, delay time.Duration) (*discovery.Memory, *atomic.Int64) {
	t.Helper()
	var slowHits atomic.Int64
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "fast")
	}))
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		slowHits.Add(1)
		time.Sleep(delay) // the slow instance: this is load, not a timing assertion
		_, _ = io.WriteString(w, "slow")
	}))
	t.Cleanup(fast.Close)
	t.Cleanup(slow.Close)
	return memoryWith(t, nil, instanceOf(t, "catalog", "fast", fast), instanceOf(t, "catalog", "slow", slow)), &slowHits
}

func instanceOf(t testing.TB, service, id string, srv *httptest.Server) discovery.Instance {
	t.Helper()
	host, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return discovery.Instance{ID: id, Service: service, Address: host, Port: p}
}

// drive sends workers×perWorker GETs to http://catalog/ through a Transport
// with the given balancer and returns how many reached the slow instance.
func drive(t *testing.T, newBalancer func() discovery.Balancer) int64 {
	t.Helper()
	reg, slowHits := slowAndFast(t, 20*time.Millisecond)
	r := newResolver(t, reg, discovery.WithBalancer(newBalancer))
	tr := must[*discovery.Transport](t)(discovery.NewTransport(r, discovery.WithMaxAttempts(1)))
	client := &http.Client{Transport: tr}
	const workers, perWorker = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range perWorker {
				resp, err := client.Get("http://catalog/")
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return slowHits.Load()
}

func TestP2CSendsLessToASlowInstanceThanRoundRobin(t *testing.T) {
	const total = 8 * 40
	rr := drive(t, discovery.RoundRobin)
	p2c := drive(t, discovery.LeastRequest)
	t.Logf("requests to the slow instance: round robin %d of %d, P2C %d of %d", rr, total, p2c, total)
	// Round robin ignores speed: it gives the slow instance half.
	if rr < total/2-8 || rr > total/2+8 {
		t.Fatalf("round robin sent %d of %d to the slow instance, want about half", rr, total)
	}
	// P2C sees the slow instance's requests pile up and goes elsewhere:
	// it must send it less than half of what round robin does.
	if p2c*2 >= rr {
		t.Fatalf("P2C sent %d to the slow instance, round robin %d: want under half", p2c, rr)
	}
}

func ExampleLeastRequest() {
	reg, _ := discovery.NewMemory()
	defer reg.Close(context.Background())
	for i := range 2 {
		_ = reg.Register(context.Background(), discovery.Instance{
			ID: fmt.Sprint("cart-", i), Service: "cart", Address: "10.0.0.1", Port: 8080 + i,
		})
	}
	r, _ := discovery.NewResolver(reg, discovery.WithBalancer(discovery.LeastRequest))
	defer r.Close(context.Background())

	busy, _ := r.Pick(context.Background(), "cart") // a request in flight
	next, _ := r.Pick(context.Background(), "cart")
	fmt.Println(next != busy)
	next.Done(nil)
	busy.Done(nil)
	// Output: true
}

// TestExtraDoneDoesNotSkewLeastRequest checks that a Done without a Pick
// (a caller's double Done) leaves the in-flight count at zero: a negative
// count would make LeastRequest prefer that endpoint over every idle one,
// for good.
func TestExtraDoneDoesNotSkewLeastRequest(t *testing.T) {
	ctx := context.Background()
	r := newResolver(t, memoryWith(t, nil, inst("svc", 0), inst("svc", 1)), discovery.WithBalancer(discovery.LeastRequest))
	twice := must[*discovery.Endpoint](t)(r.Pick(ctx, "svc"))
	twice.Done(nil)
	twice.Done(nil)
	if n := twice.InFlight(); n != 0 {
		t.Fatalf("InFlight = %d after a second Done, want 0", n)
	}
	// With the counts right, a held request sends the next pick elsewhere.
	held := must[*discovery.Endpoint](t)(r.Pick(ctx, "svc"))
	other := must[*discovery.Endpoint](t)(r.Pick(ctx, "svc"))
	if other == held {
		t.Fatal("LeastRequest picked the busy endpoint over the idle one")
	}
	held.Done(nil)
	other.Done(nil)
}

// TestHugeWeightsDoNotOverflow checks that weights whose sum overflows an
// int (a registry may hold any weight) neither panic the weighted balancer
// nor turn its shares upside down: they are capped at MaxWeight.
func TestHugeWeightsDoNotOverflow(t *testing.T) {
	a, b, light := inst("svc", 0), inst("svc", 1), inst("svc", 2)
	a.Weight, b.Weight = math.MaxInt/2+1, math.MaxInt/2+1
	for _, newBalancer := range []func() discovery.Balancer{discovery.Weighted, discovery.LeastRequest} {
		r := newResolver(t, memoryWith(t, nil, a, b, light), discovery.WithBalancer(newBalancer))
		for range 100 {
			pickID(t, r, "svc")
		}
	}
	if got := a.EffectiveWeight(); got != discovery.MaxWeight {
		t.Fatalf("EffectiveWeight = %d, want MaxWeight", got)
	}
}
