package natsbus_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/natsbus"
	"github.com/go-microkit/microkit/eventbus/natsbus/natstest"
)

func quiet() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

func connect(t *testing.T, url string, opts ...natsbus.Option) *natsbus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts = append([]natsbus.Option{natsbus.WithLogger(quiet())}, opts...)
	b, err := natsbus.Connect(ctx, url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

func TestConformance(t *testing.T) {
	srv := natstest.Run(t)
	eventbustest.Run(t, eventbustest.Config{
		Connect: func(t *testing.T) eventbustest.Instance {
			// A short ack wait so that what a killed consumer held comes
			// back within the test.
			b := connect(t, srv.URL(), natsbus.WithAckWait(2*time.Second))
			return eventbustest.Instance{Publisher: b, Subscriber: b}
		},
		Restart: func(t *testing.T) { srv.Restart(t) },
	})
}
