package discovery_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/retry"
)

// server is a real HTTP instance that answers with its name, or with
// status when status is set.
type server struct {
	*httptest.Server
	name   string
	status atomic.Int64
	hits   atomic.Int64
	bodies chan string
}

func newServer(t *testing.T, name string) *server {
	s := &server{name: name, bodies: make(chan string, 100)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		select {
		case s.bodies <- string(body):
		default:
		}
		if code := s.status.Load(); code != 0 {
			w.WriteHeader(int(code))
		}
		_, _ = io.WriteString(w, s.name+" "+r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s
}

type transportFixture struct {
	client *http.Client
	r      *discovery.Resolver
	events *events
}

func newTransportFixture(t *testing.T, ropts []discovery.ResolverOption, topts []discovery.TransportOption, servers ...*server) *transportFixture {
	t.Helper()
	var instances []discovery.Instance
	for _, s := range servers {
		instances = append(instances, instanceOf(t, "product-service", s.name, s.Server))
	}
	ev := &events{}
	ropts = append([]discovery.ResolverOption{discovery.WithBalancer(discovery.RoundRobin), discovery.WithListener(ev)}, ropts...)
	r := newResolver(t, memoryWith(t, nil, instances...), ropts...)
	tr := must[*discovery.Transport](t)(discovery.NewTransport(r, topts...))
	return &transportFixture{client: &http.Client{Transport: tr}, r: r, events: ev}
}

func (f *transportFixture) do(t *testing.T, method, url, body string, header ...string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req := must[*http.Request](t)(http.NewRequest(method, url, rd))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTransportRoutesByServiceName(t *testing.T) {
	a, b := newServer(t, "a"), newServer(t, "b")
	f := newTransportFixture(t, nil, nil, a, b)
	got := map[string]bool{}
	for range 4 {
		code, body := f.do(t, http.MethodGet, "http://product-service/products/1", "")
		if code != 200 || !strings.HasSuffix(body, " /products/1") {
			t.Fatalf("got %d %q", code, body)
		}
		got[body] = true
	}
	if !got["a /products/1"] || !got["b /products/1"] {
		t.Fatalf("both instances should serve: %v", got)
	}
}

func TestTransportRetriesIdempotentRequestsElsewhere(t *testing.T) {
	bad, good := newServer(t, "bad"), newServer(t, "good")
	bad.status.Store(http.StatusServiceUnavailable)
	f := newTransportFixture(t, nil, []discovery.TransportOption{discovery.WithMaxAttempts(2)}, bad, good)

	tests := []struct {
		name, method, body string
		header             []string
		wantAll200         bool
	}{
		{name: "GET is retried", method: http.MethodGet, wantAll200: true},
		{name: "PUT with a body is retried with the body", method: http.MethodPut, body: "payload", wantAll200: true},
		{name: "POST with an idempotency key is retried", method: http.MethodPost, body: "p", header: []string{"Idempotency-Key", "k1"}, wantAll200: true},
		{name: "plain POST is not", method: http.MethodPost, body: "p", wantAll200: false},
		{name: "POST with the non-standard X-Idempotency-Key is not", method: http.MethodPost, body: "p", header: []string{"X-Idempotency-Key", "k2"}, wantAll200: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failures := 0
			for range 4 {
				code, body := f.do(t, tt.method, "http://product-service/x", tt.body, tt.header...)
				if code != 200 {
					failures++
					continue
				}
				if body != "good /x" {
					t.Fatalf("served by %q", body)
				}
			}
			if tt.wantAll200 && failures > 0 {
				t.Fatalf("%d of 4 failed despite a healthy instance", failures)
			}
			if !tt.wantAll200 && failures == 0 {
				t.Fatal("a non-idempotent request was retried")
			}
		})
	}
	for len(good.bodies) > 0 {
		if b := <-good.bodies; b != "" && b != "payload" && b != "p" {
			t.Fatalf("retried body arrived as %q", b)
		}
	}
	if got := f.events.count(discovery.EventRetried, "product-service"); got < 6 {
		t.Fatalf("%d retry events, want at least 6", got)
	}
}

func TestTransportRetriesAPostThatNeverLeft(t *testing.T) {
	good := newServer(t, "good")
	// A registered instance whose port refuses connections.
	ln := must[net.Listener](t)(net.Listen("tcp", "127.0.0.1:0"))
	dead := &server{name: "dead", Server: &httptest.Server{Listener: ln}}
	_ = ln.Close()
	f := newTransportFixture(t, nil, nil, dead, good)
	for range 4 {
		if code, body := f.do(t, http.MethodPost, "http://product-service/orders", "order"); code != 200 || body != "good /orders" {
			t.Fatalf("got %d %q", code, body)
		}
	}
}

func TestTransportRetryBudget(t *testing.T) {
	bad, good := newServer(t, "bad"), newServer(t, "good")
	bad.status.Store(http.StatusInternalServerError)
	// Half a retry per request and no floor: every second request that
	// fails may be retried.
	budget := must[*retry.Budget](t)(retry.NewBudget(retry.BudgetPolicy{Ratio: 0.5, MinPerSecond: -1}))
	f := newTransportFixture(t, nil, []discovery.TransportOption{discovery.WithRetryBudget(budget)}, bad, good)
	// Round robin starts at bad, then good, then bad...: requests 1 and 3
	// hit bad first. Request 1 has 0.5 in the budget: no retry. Request 3
	// finds 1.5: retried.
	var codes []int
	for range 4 {
		code, _ := f.do(t, http.MethodGet, "http://product-service/", "")
		codes = append(codes, code)
	}
	if codes[0] != 500 || codes[1] != 200 || codes[2] != 200 || codes[3] != 200 {
		t.Fatalf("codes %v, want [500 200 200 200]", codes)
	}
}

func TestTransportEjectsAFailingInstance(t *testing.T) {
	bad, good := newServer(t, "bad"), newServer(t, "good")
	bad.status.Store(http.StatusBadGateway)
	f := newTransportFixture(t, []discovery.ResolverOption{
		discovery.WithOutlierEjection(discovery.OutlierPolicy{ConsecutiveFailures: 3, MaxEjectedPercent: 50}),
	}, []discovery.TransportOption{discovery.WithMaxAttempts(1)}, bad, good)
	for range 6 {
		f.do(t, http.MethodGet, "http://product-service/", "")
	}
	if st := f.r.Status("product-service"); len(st.Ejected) != 1 || st.Ejected[0] != "bad" {
		t.Fatalf("status %+v", st)
	}
	before := bad.hits.Load()
	for range 10 {
		if code, _ := f.do(t, http.MethodGet, "http://product-service/", ""); code != 200 {
			t.Fatalf("got %d with the bad instance ejected", code)
		}
	}
	if bad.hits.Load() != before {
		t.Fatal("the ejected instance still got requests")
	}
}

func TestTransportUnknownService(t *testing.T) {
	f := newTransportFixture(t, nil, nil, newServer(t, "a"))
	_, err := f.client.Get("http://no-such-service/")
	if !errors.Is(err, discovery.ErrNoInstances) {
		t.Fatalf("got %v", err)
	}
}

func TestNewTransportValidatesOptions(t *testing.T) {
	r := newResolver(t, memoryWith(t, nil))
	if _, err := discovery.NewTransport(r, discovery.WithMaxAttempts(-1)); !errors.Is(err, discovery.ErrInvalidOption) {
		t.Errorf("negative tries: %v", err)
	}
	if _, err := discovery.NewTransport(nil); !errors.Is(err, discovery.ErrInvalidOption) {
		t.Errorf("nil resolver: %v", err)
	}
}

// A nil argument to an option means the option's default: the resolver
// and transport are built and send, balance and classify as without it.
func TestNilOptionArgumentsMeanTheDefault(t *testing.T) {
	f := newTransportFixture(t,
		[]discovery.ResolverOption{discovery.WithBalancer(nil), discovery.WithLogger(nil), discovery.WithListener(nil)},
		[]discovery.TransportOption{discovery.WithBaseTransport(nil), discovery.WithRetryBudget(nil), discovery.WithFailureClassifier(nil)},
		newServer(t, "a"))
	if code, _ := f.do(t, http.MethodGet, "http://product-service/", ""); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
}

// countingTransport is a real RoundTripper that counts what it sends.
type countingTransport struct {
	base http.RoundTripper
	sent atomic.Int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.sent.Add(1)
	return c.base.RoundTrip(req)
}

func TestTransportOptions(t *testing.T) {
	missing, good := newServer(t, "missing"), newServer(t, "good")
	missing.status.Store(http.StatusNotFound)
	base := &countingTransport{base: http.DefaultTransport}
	// A classifier for a service where 404 means the instance lost its
	// data: it counts as a failure, is retried and feeds ejection.
	f := newTransportFixture(t, nil, []discovery.TransportOption{
		discovery.WithBaseTransport(base),
		discovery.WithFailureClassifier(func(resp *http.Response, err error) bool {
			return err != nil || resp.StatusCode == http.StatusNotFound
		}),
		discovery.WithMaxAttempts(2),
	}, missing, good)
	for range 4 {
		if code, body := f.do(t, http.MethodGet, "http://product-service/p", ""); code != 200 || body != "good /p" {
			t.Fatalf("got %d %q", code, body)
		}
	}
	// Every 404 was retried: the base transport sent one request more per
	// hit of the missing instance.
	if n, retried := base.sent.Load(), missing.hits.Load(); retried == 0 || n != 4+retried {
		t.Fatalf("base transport sent %d requests with %d 404s, want 4 + 404s", n, retried)
	}
}

// Waves of concurrent calls to one instance reuse the connections of the
// wave before: the default transport keeps them idle. http.DefaultTransport
// keeps 2 per host, and a second wave of 16 dialled 14 new connections.
func TestTransportKeepsConnectionsForConcurrentCalls(t *testing.T) {
	const inFlight = 16
	var dialled atomic.Int64
	arrived := make(chan struct{}, inFlight)
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	f := newTransportFixture(t, nil, nil, &server{name: "a", Server: srv})
	wave := func() {
		errs := make(chan error, inFlight)
		for range inFlight {
			go func() {
				resp, err := f.client.Get("http://product-service/x")
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				errs <- err
			}()
		}
		for range inFlight {
			<-arrived // every call is in flight at once
		}
		for range inFlight {
			release <- struct{}{}
		}
		for range inFlight {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 3 {
		wave()
	}
	// Each wave but the first finds the connections of the one before idle;
	// a connection put back a moment after the next call began may still
	// make that call dial, hence the margin, far below the 16 + 14 + 14 of a
	// pool of 2.
	if n := dialled.Load(); n > inFlight+inFlight/2 {
		t.Fatalf("%d connections dialled for 3 waves of %d calls: the transport does not keep its connections", n, inFlight)
	}
}
