package rabbitbus_test

import (
	"os/exec"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus/eventbustest"
	"github.com/go-microkit/microkit/eventbus/rabbitbus"
	"github.com/go-microkit/microkit/internal/testenv"
)

func TestConformance(t *testing.T) {
	br := newBroker(t)
	eventbustest.Run(t, eventbustest.Config{
		Connect: func(t *testing.T) eventbustest.Instance {
			b := br.dial(t)
			return eventbustest.Instance{Publisher: b, Subscriber: br.subscriber(b)}
		},
		Restart: restartBroker,
		Timeout: 30 * time.Second,
	})
}

// TestConformanceClassicEnvelope: with the classic envelope in the body the
// bus keeps every promise of the suite (the broker restart is left to
// TestConformance, the body format does not change it).
func TestConformanceClassicEnvelope(t *testing.T) {
	br := newBroker(t)
	eventbustest.Run(t, eventbustest.Config{
		Connect: func(t *testing.T) eventbustest.Instance {
			b := br.dial(t, rabbitbus.WithClassicEnvelope())
			return eventbustest.Instance{Publisher: b, Subscriber: br.subscriber(b)}
		},
		Timeout: 30 * time.Second,
	})
}

// restartBroker stops and starts the RabbitMQ application of the local
// node (its Erlang VM, durable queues and persistent messages stay) and
// returns once it accepts AMQP connections again. It is the only test of
// the package that does it: it interrupts every client of the broker.
func restartBroker(t *testing.T) {
	t.Helper()
	ctl, err := exec.LookPath("rabbitmqctl")
	if err != nil {
		t.Fatalf("broker restart needs rabbitmqctl on PATH: %v", err)
	}
	// Whatever happens, leave the broker running for the other tests.
	t.Cleanup(func() { _ = exec.Command(ctl, "start_app").Run() })
	if out, err := exec.Command(ctl, "stop_app").CombinedOutput(); err != nil {
		t.Fatalf("rabbitmqctl stop_app: %v\n%s", err, out)
	}
	if out, err := exec.Command(ctl, "start_app").CombinedOutput(); err != nil {
		t.Fatalf("rabbitmqctl start_app: %v\n%s", err, out)
	}
	conn, err := dialRetry(testenv.Addr(t, "MICROKIT_RABBITMQ_URL"), 60*time.Second)
	if err != nil {
		t.Fatalf("broker did not accept connections after start_app: %v", err)
	}
	_ = conn.Close()
}
