package redislimit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/go-microkit/microkit/gateway/ratelimit"
	"github.com/go-microkit/microkit/gateway/ratelimit/redislimit"
	"github.com/go-microkit/microkit/internal/testclock"
	"github.com/go-microkit/microkit/internal/testenv"
)

var (
	quiet = redislimit.WithLogger(slog.New(slog.DiscardHandler))
	// patient keeps a slow, loaded test machine from making Redis look
	// down; the default 100 ms is for production.
	patient = redislimit.WithTimeout(10 * time.Second)
)

// prefix returns a key prefix unique to the test and deletes its keys at
// the end.
func prefix(t *testing.T, c *redis.Client) string {
	p := fmt.Sprintf("microkit:test:%s:%d:", t.Name(), time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Keys(ctx, p+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return p
}

func client(t *testing.T, opts *redis.Options) *redis.Client {
	t.Helper()
	if opts == nil {
		opts = &redis.Options{}
	}
	opts.Addr = testenv.Addr(t, "MICROKIT_REDIS_ADDR")
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestTwoInstancesShareOneBudget: two gateway instances, each with its own
// Redis connection pool, enforce one budget of 100 a minute per user.
func TestTwoInstancesShareOneBudget(t *testing.T) {
	c1, c2 := client(t, nil), client(t, nil)
	p := prefix(t, c1)
	clock := testclock.New()
	rate := ratelimit.PerMinute(100)
	a, err := redislimit.New(c1, rate, redislimit.WithPrefix(p), redislimit.WithClock(clock), quiet, patient)
	if err != nil {
		t.Fatal(err)
	}
	b, err := redislimit.New(c2, rate, redislimit.WithPrefix(p), redislimit.WithClock(clock), quiet, patient)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	allowed := 0
	for i := range 150 {
		l := a
		if i%2 == 1 {
			l = b
		}
		d, err := l.Allow(ctx, "user:ada")
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			allowed++
		}
		if d.Limit != 100 {
			t.Fatalf("limit %d", d.Limit)
		}
	}
	if allowed != 100 {
		t.Fatalf("two instances allowed %d of 150, want one budget of 100", allowed)
	}
	d, _ := b.Allow(ctx, "user:ada")
	if d.Allowed || d.RetryAfter != 600*time.Millisecond || d.Remaining != 0 {
		t.Fatalf("denied decision %+v, want retry after 600ms", d)
	}
	clock.Advance(600 * time.Millisecond)
	if d, _ := a.Allow(ctx, "user:ada"); !d.Allowed {
		t.Fatalf("after one interval: %+v", d)
	}
	if d, _ := b.Allow(ctx, "user:ada"); d.Allowed {
		t.Fatalf("only one token came back: %+v", d)
	}
	if d, _ := a.Allow(ctx, "user:bob"); !d.Allowed || d.Remaining != 99 || d.ResetAfter != 600*time.Millisecond {
		t.Fatalf("another user: %+v", d)
	}
}

func TestServerClockAndScriptReload(t *testing.T) {
	c := client(t, nil)
	p := prefix(t, c)
	l, err := redislimit.New(c, ratelimit.Rate{Requests: 3, Per: time.Hour}, redislimit.WithPrefix(p), quiet, patient)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Redis forgets its script cache (restart, failover): EVALSHA fails
	// with NOSCRIPT and the script is sent again with EVAL.
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	var got []bool
	for range 4 {
		d, err := l.Allow(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.Allowed)
	}
	if fmt.Sprint(got) != "[true true true false]" {
		t.Fatalf("allowed %v", got)
	}
	if n, _ := c.Exists(ctx, p+"k").Result(); n != 1 {
		t.Fatal("no key in Redis: the decision was not made there")
	}
}

// flakyConn fails every read and write while down is set, as a network
// partition to Redis would.
type flakyConn struct {
	net.Conn
	down *atomic.Bool
}

var errPartition = errors.New("partition")

func (c flakyConn) Read(b []byte) (int, error) {
	if c.down.Load() {
		return 0, errPartition
	}
	return c.Conn.Read(b)
}

func (c flakyConn) Write(b []byte) (int, error) {
	if c.down.Load() {
		return 0, errPartition
	}
	return c.Conn.Write(b)
}

func TestRedisDownFallsBackToLocal(t *testing.T) {
	var down atomic.Bool
	var d net.Dialer
	c := client(t, &redis.Options{MaxRetries: -1, Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if down.Load() {
			return nil, errPartition
		}
		conn, err := d.DialContext(ctx, network, addr)
		return flakyConn{Conn: conn, down: &down}, err
	}})
	p := prefix(t, c)
	clock := testclock.New()
	l, err := redislimit.New(c, ratelimit.Rate{Requests: 3, Per: time.Minute}, redislimit.WithPrefix(p), redislimit.WithClock(clock),
		redislimit.WithCooldown(time.Second), quiet, patient)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	allow := func() bool {
		t.Helper()
		d, err := l.Allow(ctx, "k")
		if err != nil {
			t.Fatalf("Allow returned %v; the fallback should decide", err)
		}
		return d.Allowed
	}
	if !allow() {
		t.Fatal("first request denied")
	}
	down.Store(true) // Redis becomes unreachable
	var got []bool
	for range 4 {
		got = append(got, allow())
	}
	// The local fallback enforces the limit on its own: 3 a minute.
	if fmt.Sprint(got) != "[true true true false]" {
		t.Fatalf("while Redis is down: %v", got)
	}
	down.Store(false)
	if allow() {
		t.Fatal("during the cool-down the fallback (exhausted) must still decide")
	}
	clock.Advance(time.Second)
	// Back on Redis, which saw one request a second ago: 2 left.
	got = got[:0]
	for range 3 {
		got = append(got, allow())
	}
	if fmt.Sprint(got) != "[true true false]" {
		t.Fatalf("after recovery: %v", got)
	}
}

func TestClosedPortUsesFallback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	l, err := redislimit.New(c, ratelimit.Rate{Requests: 1, Per: time.Minute}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	d1, err1 := l.Allow(context.Background(), "k")
	d2, err2 := l.Allow(context.Background(), "k")
	if err1 != nil || err2 != nil || !d1.Allowed || d2.Allowed {
		t.Fatalf("decisions %+v %v, %+v %v", d1, err1, d2, err2)
	}
}

func TestOptions(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	r := ratelimit.PerMinute(1)
	for _, o := range []redislimit.Option{redislimit.WithFallback(nil), redislimit.WithCooldown(-1), redislimit.WithTimeout(0),
		redislimit.WithClock(nil), redislimit.WithLogger(nil)} {
		if _, err := redislimit.New(c, r, o); !errors.Is(err, ratelimit.ErrInvalidOption) {
			t.Errorf("option error %v", err)
		}
	}
	if _, err := redislimit.New(nil, r); !errors.Is(err, ratelimit.ErrInvalidOption) {
		t.Error("nil client accepted")
	}
	if _, err := redislimit.New(c, ratelimit.Rate{}); !errors.Is(err, ratelimit.ErrInvalidOption) {
		t.Error("zero rate accepted")
	}
}

func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	limiter, err := redislimit.New(rdb, ratelimit.PerMinute(100))
	if err != nil {
		panic(err)
	}
	mw, err := ratelimit.Middleware(limiter) // per user, else per client IP
	if err != nil {
		panic(err)
	}
	_ = mw // goes into gateway.Route.Middleware
}
