package redisbus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/go-microkit/microkit/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// TestReapDeletesIdleEmptyConsumers: reaping deletes a consumer that owns
// nothing (a process that died after its entries were claimed) and keeps
// one that still owns a pending entry.
func TestReapDeletesIdleEmptyConsumers(t *testing.T) {
	addr := testenv.Addr(t, "MICROKIT_REDIS_ADDR")
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var r [6]byte
	_, _ = rand.Read(r[:])
	stream := "redisbus-test-" + hex.EncodeToString(r[:])
	defer rdb.Del(context.Background(), stream)
	if err := rdb.XGroupCreateMkStream(ctx, stream, "g:x", "0").Err(); err != nil {
		t.Fatal(err)
	}
	// Each consumer reads an entry; the ghost's is acknowledged (or was
	// claimed by another instance): it owns nothing any more.
	for _, c := range []string{"holder", "ghost"} {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"type", "x"}}).Err(); err != nil {
			t.Fatal(err)
		}
		got, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g:x", Consumer: c, Streams: []string{stream, ">"}, Count: 1, Block: -1}).Result()
		if err != nil || len(got) != 1 || len(got[0].Messages) != 1 {
			t.Fatalf("XREADGROUP as %s: %v, %v", c, got, err)
		}
		if c == "ghost" {
			if err := rdb.XAck(ctx, stream, "g:x", got[0].Messages[0].ID).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	n, err := reapScript.Run(ctx, rdb, []string{stream}, "g:x", 0).Int()
	if err != nil || n != 1 {
		t.Fatalf("reap = %d, %v; want 1 consumer deleted", n, err)
	}
	consumers, err := rdb.XInfoConsumers(ctx, stream, "g:x").Result()
	if err != nil || len(consumers) != 1 || consumers[0].Name != "holder" || consumers[0].Pending != 1 {
		t.Fatalf("consumers after reaping: %+v, %v; want holder with its entry", consumers, err)
	}
	// Unseen for less than the threshold: kept.
	if n, err := reapScript.Run(ctx, rdb, []string{stream}, "g:x", time.Hour.Milliseconds()).Int(); err != nil || n != 0 {
		t.Fatalf("reap with an hour's threshold = %d, %v; want none deleted", n, err)
	}
}
