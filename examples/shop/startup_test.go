package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/examples/shop/internal/shop"
	"github.com/go-microkit/microkit/examples/shop/internal/shoptest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A notification-service started while its NATS cluster cannot place the
// stream yet waits for it instead of exiting. Two of three servers elect a
// JetStream leader and answer, but a stream kept three times has no place
// until the third joins ("no suitable peers for placement"): on a busy
// machine the service can start in that window. It says what it waits for,
// and serves, consuming (and collecting dead letters), once the third
// server is up.
func TestShopWaitsForNATSCluster(t *testing.T) {
	nc := newNATSCluster(t, 3)
	nc.start(0)
	nc.start(1)
	nc.waitJetStream()
	replicas := []string{"-stream-replicas", "3"}
	c := newCluster(t, clusterConfig{natsURL: nc.URL(), extra: map[string][]string{shop.Notification: replicas}})
	l := &logBuffer{}
	c.logs[shop.Notification] = l
	joined := make(chan struct{})
	go func() {
		defer close(joined)
		err := shoptest.Eventually(waitCtx(t), 50*time.Millisecond, func() error {
			if !strings.Contains(l.String(), "waiting for the NATS stream") {
				return errNotWaiting
			}
			return nil
		})
		if err != nil {
			t.Errorf("the notification-service did not say it waits for the stream: %v", err)
		}
		nc.start(2)
	}()
	c.start(shop.Notification)
	<-joined
	if t.Failed() {
		t.FailNow()
	}

	conn, err := nats.Connect(nc.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	js, err := jetstream.New(conn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, strings.ToUpper(c.run)+"_SHOP")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One consumer per event type (order.created, .confirmed, .shipped and
	// .cancelled), and the dead-letter collector's.
	if info.Config.Replicas != 3 || info.State.Consumers != 5 {
		t.Fatalf("stream kept %d times with %d consumers, want 3 and 5", info.Config.Replicas, info.State.Consumers)
	}
}

var errNotWaiting = errors.New("no line says it waits for the stream")
