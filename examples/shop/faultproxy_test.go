package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// faultProxy is an HTTP proxy in front of one service instance, which the
// instance registers as its address (-advertise-port). It forwards
// everything, except that it can lose a reply and can stop listening.
type faultProxy struct {
	t      *testing.T
	addr   string
	client *http.Client

	mu       sync.Mutex
	upstream string // base URL of the instance
	loseNext string // "METHOD /path" whose next reply is lost
	refuse   string // "METHOD /path" that, after a lost reply, answers 503
	lost     int    // replies lost
	srv      *http.Server
	done     chan struct{}
}

// newFaultProxy listens on a free loopback port; setUpstream tells it where
// to forward once the instance serves.
func newFaultProxy(t *testing.T) *faultProxy {
	p := &faultProxy{t: t, client: &http.Client{Timeout: 10 * time.Second}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() {
		p.mu.Lock()
		srv, done := p.srv, p.done
		p.mu.Unlock()
		_ = srv.Close()
		<-done
	})
	return p
}

// port returns the port the instance should advertise.
func (p *faultProxy) port() string {
	_, port, _ := net.SplitHostPort(p.addr)
	return port
}

func (p *faultProxy) setUpstream(u string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.upstream = u
}

// loseReply makes the proxy forward the next request to route ("POST
// /charges"), drop the instance's reply by closing the connection, and
// answer 503 to every later request to route until heal.
func (p *faultProxy) loseReply(route string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loseNext, p.refuse = route, ""
}

// heal makes the proxy forward everything again and returns how many
// replies it lost.
func (p *faultProxy) heal() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loseNext, p.refuse = "", ""
	return p.lost
}

// blip stops listening and closes every connection, as a restarting
// process does, and listens again on the same port after down.
func (p *faultProxy) blip(down time.Duration) {
	p.mu.Lock()
	srv, done := p.srv, p.done
	p.mu.Unlock()
	_ = srv.Close()
	<-done
	time.Sleep(down)
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Errorf("proxy: listen again on %s: %v", p.addr, err)
		return
	}
	p.serve(ln)
}

func (p *faultProxy) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(p.handle), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	p.mu.Lock()
	p.srv, p.done = srv, done
	p.mu.Unlock()
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
}

func (p *faultProxy) handle(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	p.mu.Lock()
	upstream := p.upstream
	lose := route == p.loseNext
	if lose {
		p.loseNext, p.refuse = "", route
		p.lost++
	}
	refuse := !lose && route == p.refuse
	p.mu.Unlock()
	if refuse || upstream == "" {
		http.Error(w, "proxy: upstream unavailable", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := p.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if lose {
		// The instance applied the request; its caller never hears so.
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}
