package saga_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/saga"
)

// payments is an HTTP participant that charges and refunds by idempotency
// key: a repeated charge is a no-op, a refund of a key never charged is a
// no-op success.
type payments struct {
	mu       sync.Mutex
	charged  map[string]bool
	refunded []string
}

func (p *payments) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	p.mu.Lock()
	defer p.mu.Unlock()
	switch r.URL.Path {
	case "/charge":
		p.charged[key] = true
	case "/refund":
		if p.charged[key] {
			delete(p.charged, key)
			p.refunded = append(p.refunded, key)
		}
	default:
		http.NotFound(w, r)
	}
}

// lossyProxy forwards the first charge, lets the participant apply it, and
// drops the reply (the connection closes with no response); every later
// charge gets 503. Refunds pass through.
type lossyProxy struct {
	target string
	mu     sync.Mutex
	seen   int
}

func (p *lossyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/charge" {
		p.mu.Lock()
		p.seen++
		first := p.seen == 1
		p.mu.Unlock()
		if !first {
			http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
			return
		}
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	resp.Body.Close()
	if r.URL.Path == "/charge" {
		// The charge happened; its reply never reaches the caller.
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	w.WriteHeader(resp.StatusCode)
}

func post(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// TestLostReplyFromParticipantIsCompensated is the seam between the saga
// and an HTTP participant whose reply was lost: the charge went through,
// the saga saw a transport error then 503s, and must refund it.
func TestLostReplyFromParticipantIsCompensated(t *testing.T) {
	pay := &payments{charged: map[string]bool{}}
	upstream := httptest.NewServer(pay)
	defer upstream.Close()
	proxy := httptest.NewServer(&lossyProxy{target: upstream.URL})
	defer proxy.Close()

	j := &journal{}
	charge := saga.Step[order]{
		Name: "charge",
		Execute: func(ctx context.Context, _ *order) error {
			key, _ := saga.IdempotencyKeyFromContext(ctx)
			return post(ctx, proxy.URL+"/charge?key="+key)
		},
		Compensate: func(ctx context.Context, _ *order) error {
			key, _ := saga.IdempotencyKeyFromContext(ctx)
			return post(ctx, proxy.URL+"/refund?key="+key)
		},
		Timeout: 5 * time.Second,
		Retry:   retries(2),
	}
	o := newOrchestrator(t, saga.NewMemoryStore())
	_, err := define(t, o, step(j, "reserve", 0, nil), charge).Run(context.Background(), o, order{}, saga.WithID("o-7"))
	var ce *saga.CompensatedError
	if !errors.As(err, &ce) || ce.Step != "charge" {
		t.Fatalf("Run = %v, want compensated after charge", err)
	}
	pay.mu.Lock()
	defer pay.mu.Unlock()
	if len(pay.charged) != 0 || !slices.Equal(pay.refunded, []string{"o-7/charge"}) {
		t.Errorf("participant: charged %v, refunded %v; want the charge refunded", pay.charged, pay.refunded)
	}
	if got, want := j.list(), []string{"do reserve", "undo reserve"}; !slices.Equal(got, want) {
		t.Errorf("journal = %q, want %q", got, want)
	}
}
