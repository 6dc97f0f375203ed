package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRestartKeepsData: what the server stored before a restart is there
// after it, on the same address.
func TestRestartKeepsData(t *testing.T) {
	srv := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: []string{"k", "v"}}).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)
	if n, err := rdb.XLen(ctx, "s").Result(); err != nil || n != 1 {
		t.Fatalf("after the restart XLEN = %d, %v; want 1", n, err)
	}
	srv.Stop()
	srv.Stop() // idempotent
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("the server answers after Stop")
	}
}

// TestKillKeepsAcknowledged: a killed server comes back with what it
// acknowledged, and answers nothing while down.
func TestKillKeepsAcknowledged(t *testing.T) {
	srv := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	defer rdb.Close()
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: []string{"k", "v"}}).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	srv.Kill() // idempotent
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("the server answers after Kill")
	}
	srv.Restart(t)
	if n, err := rdb.XLen(ctx, "s").Result(); err != nil || n != 1 {
		t.Fatalf("after the kill and restart XLEN = %d, %v; want 1", n, err)
	}
}
