package microkit_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/breaker/breakergrpc"
	"github.com/go-microkit/microkit/console"
	"github.com/go-microkit/microkit/discovery"
	"github.com/go-microkit/microkit/discovery/grpcresolver"
	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/eventbustrace"
	"github.com/go-microkit/microkit/eventbus/inbox"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/gateway/gatewaytrace"
	"github.com/go-microkit/microkit/gateway/jwtauth"
	"github.com/go-microkit/microkit/gateway/ratelimit"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/saga/sagabus"
	"github.com/go-microkit/microkit/saga/sagatrace"
	"github.com/go-microkit/microkit/tracing"
	"github.com/go-microkit/microkit/tracing/otelsetup"
)

// TestNilOptionIsNoOption: a nil Option among a constructor's options is
// skipped, in every package, as a nil argument to an option means its
// default. Conditional options (var o Option; if debug { o = ... }) need no
// filtering, and configuration never panics.
func TestNilOptionIsNoOption(t *testing.T) {
	ctx := context.Background()
	bus, err := memory.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close(ctx) })
	reg, err := discovery.NewMemory()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close(ctx) })
	b, err := breaker.New("b")
	if err != nil {
		t.Fatal(err)
	}
	for name, build := range map[string]func() error{
		"breaker.New":             func() error { _, err := breaker.New("x", nil); return err },
		"breaker.NewTransport":    func() error { _, err := breaker.NewTransport(nil, b, nil); return err },
		"breakergrpc":             func() error { _ = breakergrpc.UnaryClientInterceptor(breakergrpc.Single(b), nil); return nil },
		"discovery.NewMemory":     func() error { m, err := discovery.NewMemory(nil); closeIf(m, err); return err },
		"discovery.NewResolver":   func() error { r, err := discovery.NewResolver(reg, nil); closeIf(r, err); return err },
		"grpcresolver.NewBuilder": func() error { _, err := grpcresolver.NewBuilder(reg, nil); return err },
		"memory.New":              func() error { m, err := memory.New(nil); closeIf(m, err); return err },
		"eventbus.NewRouter":      func() error { _, err := eventbus.NewRouter(bus.Client(), "g", nil); return err },
		"eventbus.DeadLetter":     func() error { _ = eventbus.DeadLetter(bus.Client(), nil); return nil },
		"eventbus.SubscribeSettings": func() error {
			_, err := eventbus.NewSubscribeSettings(nil)
			return err
		},
		"eventbustrace.Middleware": func() error { _ = eventbustrace.Middleware("nats", nil); return nil },
		"inbox.Dedupe":             func() error { _ = inbox.Dedupe(inbox.NewMemory(0), nil); return nil },
		"gateway.New":              func() error { _, err := gateway.New(nil, nil); return err },
		"console.New": func() error {
			_, err := console.New(func(*http.Request) (console.Operator, error) { return console.Operator{}, nil }, nil)
			return err
		},
		"gatewaytrace.Propagate": func() error { _ = gatewaytrace.Propagate(nil, nil); return nil },
		"jwtauth.NewJWKS":        func() error { _, err := jwtauth.NewJWKS("https://idp.example/jwks", nil); return err },
		"ratelimit.NewLocal":     func() error { _, err := ratelimit.NewLocal(ratelimit.PerMinute(1), nil); return err },
		"saga.NewOrchestrator":   func() error { _, err := saga.NewOrchestrator(saga.NewMemoryStore(), nil); return err },
		"sagatrace.New":          func() error { _, err := sagatrace.New(nil); return err },
		"sagabus.Handler": func() error {
			o, _ := saga.NewOrchestrator(saga.NewMemoryStore())
			_, err := sagabus.Handler(o, sagabus.JSONKey("k"), nil)
			return err
		},
		"tracing.New": func() error { _, err := tracing.New(nil); return err },
		"otelsetup.Setup": func() error {
			shutdown, err := otelsetup.Setup(ctx, otelsetup.WithExporter(otelsetup.ExporterNone), nil)
			if err == nil {
				err = shutdown(ctx)
			}
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("a nil Option panicked: %v", r)
				}
			}()
			if err := build(); err != nil {
				t.Fatalf("a nil Option failed the constructor: %v", err)
			}
		})
	}
}

func closeIf(c interface{ Close(context.Context) error }, err error) {
	if err == nil {
		_ = c.Close(context.Background())
	}
}
