package shoptest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/go-microkit/microkit/examples/shop/internal/shop"
)

// Start runs the one-process shop for a test: the gateway on a free port,
// the demo catalog and users seeded, passwords hashed at bcrypt's lowest
// cost, a breaker that opens staying open for the rest of the test, and
// nothing logged. Each tune changes the configuration first. The shop is
// closed when the test ends.
func Start(t testing.TB, tune ...func(*shop.Config)) *shop.Shop {
	t.Helper()
	cfg := shop.Config{
		DataDir:     t.TempDir(),
		Addr:        map[string]string{shop.Gateway: "127.0.0.1:0"},
		Seed:        true,
		BcryptCost:  bcrypt.MinCost,
		BreakerOpen: 10 * time.Minute,
		// The warehouse ships an hour after a confirmation, well within
		// its deadline: a test that follows an order to its shipment
		// sets a short ShipAfter.
		ShipAfter:    time.Hour,
		ShipDeadline: 2 * time.Hour,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, f := range tune {
		f(&cfg)
	}
	sh, err := shop.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("start the shop: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := sh.Close(ctx); err != nil {
			t.Errorf("close the shop: %v", err)
		}
	})
	return sh
}
