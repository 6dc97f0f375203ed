package inbox_test

import (
	"context"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/inbox"
)

// The same message delivered twice runs the handler once.
func ExampleDedupe() {
	store := inbox.NewMemory(time.Hour)
	handle := inbox.Dedupe(store)(func(ctx context.Context, m *eventbus.Message) error {
		fmt.Println("charging for", m.Subject)
		return nil
	})
	msg := &eventbus.Message{ID: "evt-1", Type: "order.created", Subject: "o-1"}
	for range 2 {
		if err := handle(context.Background(), msg); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// charging for o-1
}
