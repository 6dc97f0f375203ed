package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/retry"
)

// outcomes records every outcome the gateway reports to a route's
// breakers and target, and what the upstream received.
type outcomes struct {
	mu       sync.Mutex
	reported int
	counted  []error // outcomes that count against the upstream
	reached  []seen  // requests the upstream received
	log      bytes.Buffer
	done     chan struct{}
}

// report records an outcome; attempts counts the attempts (the target's
// reports, not the breaker's of the same attempt).
func (o *outcomes) report(err error, attempt bool) {
	o.mu.Lock()
	if attempt {
		o.reported++
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		o.counted = append(o.counted, err)
	}
	o.mu.Unlock()
	select {
	case o.done <- struct{}{}:
	default:
	}
}

func (o *outcomes) snapshot() (reported int, counted []error, reached []seen) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reported, append([]error(nil), o.counted...), append([]seen(nil), o.reached...)
}

func (o *outcomes) logged() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.log.String()
}

// Write lets outcomes collect the gateway's log.
func (o *outcomes) Write(p []byte) (int, error) {
	o.mu.Lock()
	n, err := o.log.Write(p)
	o.mu.Unlock()
	select {
	case o.done <- struct{}{}:
	default:
	}
	return n, err
}

// waitLogged waits until the gateway's log contains s.
func (o *outcomes) waitLogged(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(o.logged(), s) {
		select {
		case <-o.done:
		case <-deadline:
			t.Fatalf("never logged %s; the log:\n%s", s, o.logged())
		}
	}
}

// recordingTarget reports each attempt's outcome to o, then to the
// static target's done.
type recordingTarget struct {
	base gateway.Target
	o    *outcomes
}

func (t recordingTarget) Pick(ctx context.Context) (*url.URL, func(error), error) {
	u, done, err := t.base.Pick(ctx)
	if err != nil {
		return nil, nil, err
	}
	return u, func(err error) { done(err); t.o.report(err, true) }, nil
}

// recordingBreakers is a real breaker set (one failure opens it) whose
// outcomes are also recorded.
type recordingBreakers struct {
	set gateway.Breakers
	o   *outcomes
}

func (b recordingBreakers) Allow(upstream string) (func(error), error) {
	done, err := b.set.Allow(upstream)
	if err != nil {
		return nil, err
	}
	return func(err error) { done(err); b.o.report(err, false) }, nil
}

// attackGateway is a real gateway server (NewServer) in front of a real
// upstream, with a breaker that one counted failure opens, retries, a
// 1 KiB BodyLimit and a body read timeout of bodyTimeout. The upstream
// reads every body to its end; on /api/products/slow it waits until its
// client (the gateway) goes away.
type attackGateway struct {
	addr    string
	o       *outcomes
	slowHit chan struct{}
}

func newAttackGateway(t *testing.T, bodyTimeout time.Duration, routeOpts func(*gateway.Route), opts ...gateway.Option) *attackGateway {
	t.Helper()
	a := &attackGateway{o: &outcomes{done: make(chan struct{}, 64)}, slowHit: make(chan struct{}, 1)}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		a.o.mu.Lock()
		a.o.reached = append(a.o.reached, seen{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(body)})
		a.o.mu.Unlock()
		if err != nil {
			// What a typical service does with a body it could not read.
			http.Error(w, "bad body", http.StatusInternalServerError)
			return
		}
		if r.URL.Path == "/products/slow" {
			a.slowHit <- struct{}{}
			<-r.Context().Done()
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	set, err := breaker.NewSet("attack", 16, breaker.WithConsecutiveFailures(1), breaker.WithOpenDuration(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	perHost, err := gateway.BreakerSet(set)
	if err != nil {
		t.Fatal(err)
	}
	budget, err := retry.NewBudget(retry.BudgetPolicy{Ratio: 0.1, MinPerSecond: 1})
	if err != nil {
		t.Fatal(err)
	}
	rt := gateway.Route{Name: "products", Path: "/api/products/**", StripPrefix: "/api",
		Target:          recordingTarget{base: mustTarget(t, up.URL), o: a.o},
		Breakers:        recordingBreakers{set: perHost, o: a.o},
		Retry:           retries(2),
		RetryStatuses:   []int{500, 502, 503, 504},
		RetryBudget:     budget,
		BodyReadTimeout: bodyTimeout,
		Middleware:      []gateway.Middleware{gateway.BodyLimit(1 << 10)}}
	if routeOpts != nil {
		routeOpts(&rt)
	}
	opts = append([]gateway.Option{gateway.WithLogger(slog.New(slog.NewJSONHandler(a.o, nil))),
		gateway.WithMiddleware(gateway.RequestID())}, opts...)
	g, err := gateway.New([]gateway.Route{rt}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := serveFrontDoor(t, g)
	a.addr = srv.Listener.Addr().String()
	return a
}

// rawConn is a client connection to the gateway that writes bytes as they
// are, whatever HTTP says.
type rawConn struct {
	t    *testing.T
	conn *net.TCPConn
	br   *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// A guard against a gateway that never answers, not a timing
	// assertion: every exchange here ends in well under a second.
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, conn: c.(*net.TCPConn), br: bufio.NewReader(c)}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// response reads one final response, skipping interim (1xx) ones other
// than 101; its body is read and returned.
func (c *rawConn) response() (*http.Response, []byte) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, nil)
	for err == nil && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
		// 100 Continue may come twice: from the gateway when it reads the
		// body, and relayed from the upstream.
		resp, err = http.ReadResponse(c.br, nil)
	}
	if err != nil {
		c.t.Fatalf("no response: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("response body: %v", err)
	}
	return resp, b
}

// closedByPeer reports whether the gateway closed the connection (EOF or
// reset) rather than leaving it open.
func (c *rawConn) closedByPeer() bool {
	_, err := c.br.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

// waitReported waits until the gateway reported n outcomes in all.
func (o *outcomes) waitReported(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if got, _, _ := o.snapshot(); got >= n {
			return
		}
		select {
		case <-o.done:
		case <-deadline:
			t.Fatalf("outcome %d never reported", n)
		}
	}
}
