package discoverytarget_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/gateway/discoverytarget"
)

// TestClientFaultsDoNotEjectInstances: requests whose clients break their
// own bodies (a bad chunk, a body cut short) reach an instance but never
// count toward its ejection, whether the gateway picks the instance
// (discoverytarget) or a discovery.Transport under the gateway does. One
// counted failure would eject an instance here.
func TestClientFaultsDoNotEjectInstances(t *testing.T) {
	for _, via := range []string{"target", "transport"} {
		t.Run(via, func(t *testing.T) {
			var hits [2]atomic.Int64
			var insts []discovery.Instance
			for i := range 2 {
				s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodGet {
						hits[i].Add(1) // attacks (POST) may arrive late
					}
					if _, err := io.ReadAll(r.Body); err != nil {
						http.Error(w, "bad body", http.StatusInternalServerError)
					}
				}))
				t.Cleanup(s.Close)
				insts = append(insts, instance(t, strconv.Itoa(i), s.URL))
			}
			reg, err := discovery.NewStatic(insts)
			if err != nil {
				t.Fatal(err)
			}
			res, err := discovery.NewResolver(reg, discovery.WithBalancer(discovery.RoundRobin),
				discovery.WithOutlierEjection(discovery.OutlierPolicy{ConsecutiveFailures: 1, MaxEjectedPercent: 50, BaseEjectionTime: time.Hour, MaxEjectionTime: time.Hour}),
				discovery.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = res.Close(context.Background()) })
			var target gateway.Target
			opts := []gateway.Option{gateway.WithLogger(slog.New(slog.DiscardHandler))}
			if via == "target" {
				target, _ = discoverytarget.New(res, "orders")
			} else {
				target, _ = gateway.StaticTarget("http://orders")
				tr, err := discovery.NewTransport(res, discovery.WithBaseTransport(gateway.NewTransport()))
				if err != nil {
					t.Fatal(err)
				}
				opts = append(opts, gateway.WithTransport(tr))
			}
			g, err := gateway.New([]gateway.Route{{Path: "/orders/**", Target: target}}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(g)
			t.Cleanup(srv.Close)
			addr := srv.Listener.Addr().String()
			for i := range 6 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				req := "POST /orders/1 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n"
				if i%2 == 1 {
					req = "POST /orders/1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\nabc"
				}
				_, _ = io.WriteString(c, req)
				_ = c.(*net.TCPConn).CloseWrite()
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				b, _ := io.ReadAll(c)
				c.Close()
				if len(b) < 12 || string(b[9:12]) != "400" {
					t.Fatalf("attack %d answered %q, want 400", i, b)
				}
			}
			for range 4 {
				resp, err := http.Get(srv.URL + "/orders/1")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("good request: %d", resp.StatusCode)
				}
			}
			for i := range 2 {
				if hits[i].Load() != 2 {
					t.Fatalf("instance %d got %d of 4 good requests: it was ejected", i, hits[i].Load())
				}
			}
		})
	}
}

// TestClientFaultsDoNotHideFailures: a client fault between two failures
// of an instance is no news, not a success that starts its count of
// failures over, so an attacker cannot keep a failing instance in rotation
// by interleaving broken requests (discovery.Transport under the gateway;
// two failures in a row eject).
func TestClientFaultsDoNotHideFailures(t *testing.T) {
	var insts []discovery.Instance
	for i := range 2 {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body)
			w.WriteHeader(http.StatusInternalServerError) // a failing instance
		}))
		t.Cleanup(s.Close)
		insts = append(insts, instance(t, strconv.Itoa(i), s.URL))
	}
	reg, err := discovery.NewStatic(insts)
	if err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	res, err := discovery.NewResolver(reg, discovery.WithBalancer(discovery.RoundRobin),
		discovery.WithOutlierEjection(discovery.OutlierPolicy{ConsecutiveFailures: 2, MaxEjectedPercent: 50}),
		discovery.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Close(context.Background()) })
	tr, err := discovery.NewTransport(res, discovery.WithBaseTransport(gateway.NewTransport()), discovery.WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	target, _ := gateway.StaticTarget("http://orders")
	g, err := gateway.New([]gateway.Route{{Path: "/orders/**", Target: target}},
		gateway.WithTransport(tr), gateway.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	// Round robin over two instances: each sees fail, client fault, fail.
	for range 2 {
		for range 2 {
			resp, err := http.Get(srv.URL + "/orders/1")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		for range 2 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.WriteString(c, "POST /orders/1 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n")
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			b, _ := io.ReadAll(c)
			c.Close()
			if len(b) < 12 || string(b[9:12]) != "400" {
				t.Fatalf("attack answered %q, want 400", b)
			}
		}
	}
	if !strings.Contains(log.String(), "ejecting outlier") {
		t.Fatalf("no instance was ejected after two failures in a row; log:\n%s", log.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
