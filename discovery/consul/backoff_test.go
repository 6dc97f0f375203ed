package consul_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/go-microkit/microkit/discovery/consul"
	"github.com/go-microkit/microkit/internal/memhttp"
)

// TestWatchBackoffAfterFailures: after n failed queries in a row a watcher
// waits retry.Backoff's delay for n, doubling from WithWatchBackoff's
// minimum up to its maximum, each wait between half and all of it (equal
// jitter), and queries at once again after a success.
func TestWatchBackoffAfterFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var at []time.Time
		failing := true
		agent := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			at = append(at, time.Now())
			if failing {
				http.Error(w, "agent restarting", http.StatusInternalServerError)
				return
			}
			w.Header().Set("X-Consul-Index", "7")
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("[]"))
		})
		cfg := &api.Config{Address: "consul.test", Scheme: "http", HttpClient: &http.Client{Transport: memhttp.Hosts{"consul.test": agent}}}
		reg, err := consul.New(cfg, consul.WithWatchBackoff(time.Second, 4*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		w, err := reg.Watch(context.Background(), "svc")
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		const failures = 5
		for range failures {
			if _, err := w.Next(context.Background()); err == nil {
				t.Fatal("Next succeeded against a failing agent")
			}
		}
		mu.Lock()
		failing = false
		mu.Unlock()
		if _, err := w.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(at) != failures+1 {
			t.Fatalf("%d queries, want %d", len(at), failures+1)
		}
		for n, full := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second} {
			if gap := at[n+1].Sub(at[n]); gap < full/2 || gap > full {
				t.Errorf("wait after %d failures = %v, want between %v and %v", n+1, gap, full/2, full)
			}
		}
	})
}
