package redislimit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/go-microkit/microkit/gateway/ratelimit"
	"github.com/go-microkit/microkit/gateway/ratelimit/redislimit"
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
	// The script decides at instants the test sets, so that the exact
	// retry times below do not depend on how fast Redis answers.
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return at }
	rate := ratelimit.PerMinute(100)
	a, err := redislimit.New(c1, rate, redislimit.WithPrefix(p), quiet, patient)
	if err != nil {
		t.Fatal(err)
	}
	b, err := redislimit.New(c2, rate, redislimit.WithPrefix(p), quiet, patient)
	if err != nil {
		t.Fatal(err)
	}
	redislimit.SetScriptClock(a, now)
	redislimit.SetScriptClock(b, now)
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
	at = at.Add(600 * time.Millisecond)
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

// TestRedisDownFallsBackToLocal cuts a real Redis off mid-stream: the
// local fallback decides while it is unreachable, and Redis, which kept its
// count, decides again once it is back. The cool-down is zero, so that the
// test needs no time to pass; TestCooldownLeavesRedisAlone times it.
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
	// Three an hour: no token comes back while the test runs.
	l, err := redislimit.New(c, ratelimit.Rate{Requests: 3, Per: time.Hour}, redislimit.WithPrefix(p),
		redislimit.WithCooldown(0), quiet, patient)
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
	// The local fallback enforces the limit on its own: 3 an hour.
	if fmt.Sprint(got) != "[true true true false]" {
		t.Fatalf("while Redis is down: %v", got)
	}
	down.Store(false)
	// Back on Redis, which saw one request: 2 left.
	got = got[:0]
	for range 3 {
		got = append(got, allow())
	}
	if fmt.Sprint(got) != "[true true false]" {
		t.Fatalf("after recovery: %v", got)
	}
}

// scriptStub is a redis.Scripter without a server, so that the cool-down
// runs in a synctest bubble: while down it fails every call, else it allows
// every request; it counts the calls that reach it.
type scriptStub struct {
	down  atomic.Bool
	calls atomic.Int64
}

func (s *scriptStub) reply(ctx context.Context) *redis.Cmd {
	s.calls.Add(1)
	cmd := redis.NewCmd(ctx)
	if s.down.Load() {
		cmd.SetErr(errPartition)
	} else {
		cmd.SetVal([]any{int64(1), int64(0), int64(0), int64(0)})
	}
	return cmd
}

func (s *scriptStub) Eval(ctx context.Context, _ string, _ []string, _ ...any) *redis.Cmd {
	return s.reply(ctx)
}

func (s *scriptStub) EvalSha(ctx context.Context, _ string, _ []string, _ ...any) *redis.Cmd {
	return s.reply(ctx)
}

func (s *scriptStub) EvalRO(ctx context.Context, _ string, _ []string, _ ...any) *redis.Cmd {
	return s.reply(ctx)
}

func (s *scriptStub) EvalShaRO(ctx context.Context, _ string, _ []string, _ ...any) *redis.Cmd {
	return s.reply(ctx)
}

func (s *scriptStub) ScriptExists(ctx context.Context, _ ...string) *redis.BoolSliceCmd {
	cmd := redis.NewBoolSliceCmd(ctx)
	cmd.SetVal([]bool{true})
	return cmd
}

func (s *scriptStub) ScriptLoad(ctx context.Context, _ string) *redis.StringCmd {
	return redis.NewStringCmd(ctx)
}

// TestCooldownLeavesRedisAlone: after a failure the limiter does not call
// Redis again until the cool-down has passed, to the nanosecond; the local
// fallback decides meanwhile.
func TestCooldownLeavesRedisAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &scriptStub{}
		l, err := redislimit.New(s, ratelimit.Rate{Requests: 3, Per: time.Minute}, redislimit.WithCooldown(time.Second), quiet)
		if err != nil {
			t.Fatal(err)
		}
		allow := func() bool {
			t.Helper()
			d, err := l.Allow(t.Context(), "k")
			if err != nil {
				t.Fatalf("Allow returned %v; the fallback should decide", err)
			}
			return d.Allowed
		}
		if !allow() || s.calls.Load() != 1 {
			t.Fatalf("first request: Redis called %d times, want 1", s.calls.Load())
		}
		s.down.Store(true)
		var got []bool
		for range 4 {
			got = append(got, allow())
		}
		if fmt.Sprint(got) != "[true true true false]" || s.calls.Load() != 2 {
			t.Fatalf("while down: %v with %d calls to Redis; want the fallback's limit and one failed call", got, s.calls.Load())
		}
		s.down.Store(false)
		time.Sleep(time.Second - time.Nanosecond)
		if allow() || s.calls.Load() != 2 {
			t.Fatalf("Redis called %d times before the cool-down ended, want 2", s.calls.Load())
		}
		time.Sleep(time.Nanosecond)
		if !allow() || s.calls.Load() != 3 {
			t.Fatalf("Redis called %d times after the cool-down, want 3", s.calls.Load())
		}
	})
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
	// A nil argument to an option means the default: with Redis down, the
	// local fallback of the same rate decides.
	nilArgs, err := redislimit.New(c, r, redislimit.WithFallback(nil), redislimit.WithLogger(nil))
	if err != nil {
		t.Fatalf("nil fallback and logger: %v", err)
	}
	first, err1 := nilArgs.Allow(context.Background(), "k")
	second, err2 := nilArgs.Allow(context.Background(), "k")
	if err1 != nil || err2 != nil || !first.Allowed || second.Allowed {
		t.Fatalf("fallback decisions %v %v (%v, %v), want allowed then refused", first.Allowed, second.Allowed, err1, err2)
	}
	for _, o := range []redislimit.Option{redislimit.WithCooldown(-1), redislimit.WithTimeout(0)} {
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
