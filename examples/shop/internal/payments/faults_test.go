package payments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/eventbus/memory"
	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/prometheus/client_golang/prometheus"
)

// startService starts the payment-service's routes on a store of its own,
// its outbox relayed to an in-memory bus, which it returns.
func startService(t *testing.T) (*Service, *memory.Bus) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := platform.NewServer("payment-test", "127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	bus, err := memory.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close(context.Background()) })
	st := openStore(t, filepath.Join(t.TempDir(), "payments.db"))
	relay, err := platform.StartRelay(t.Context(), st.db, bus, log, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = relay.Close(context.Background()) })
	s := &Service{cfg: Config{LimitCents: DefaultLimitCents, ConfirmAfter: 10 * time.Millisecond}, st: st, srv: srv, relay: relay}
	s.routes()
	srv.Start()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return s, bus
}

// A charge is answered 202 pending, and its outcome is published a moment
// later, once: payment.confirmed for a charge within the limit,
// payment.declined over it, nothing more for a repeated key, and nothing
// at all under hold_confirmations (the provider never calls back). The
// relay publishes in due order, so the last charge's event coming after
// the others', and no other, shows that the held charge has none.
func TestChargeOutcomesArePublished(t *testing.T) {
	s, bus := startService(t)
	sub, err := bus.Subscribe(t.Context(), "orders", "payment.*")
	if err != nil {
		t.Fatal(err)
	}
	admin := http.Header{platform.RoleHeader: {platform.RoleAdmin}}
	call := func(method, path string, header http.Header, body, out any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(t.Context(), method, s.srv.URL()+path, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if err := platform.DecodeResponse(resp, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	charge := func(key string, cents int64) {
		t.Helper()
		var a Accepted
		call(http.MethodPost, "/charges", nil, ChargeRequest{Key: key, OrderID: "o-" + key, Customer: "u-1", AmountCents: cents}, &a)
		if a.Key != key || a.Status != StatusPending {
			t.Fatalf("charge %s answered %+v, want it pending", key, a)
		}
	}
	charge("a", 2900)
	charge("b", DefaultLimitCents+1)
	charge("a", 2900)
	call(http.MethodPut, platform.FaultPath, admin, Faults{HoldConfirmations: true}, nil)
	charge("held", 2900)
	call(http.MethodPut, platform.FaultPath, admin, Faults{}, nil)
	charge("d", 4900)

	want := []string{"a " + EventConfirmed + " charged", "b " + EventDeclined + " declined", "d " + EventConfirmed + " charged"}
	var got []string
	for len(got) < len(want) {
		d, err := sub.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		e, err := eventbus.Decode[Event](d.Message())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Key+" "+d.Message().Type+" "+e.Status)
		_ = d.Ack(t.Context())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// The faults, set through /admin/faults, in the order a saga meets them:
// a charge whose reply is lost is made (once, however often it is asked
// for) and answered 504 reply_lost; a refund under fail_refunds answers
// 500 and refunds nothing; once the faults are cleared the refund goes
// through. Only the admin role sets them, and only valid ones.
func TestInjectedFaults(t *testing.T) {
	s, _ := startService(t)
	srv := s.srv

	admin := http.Header{platform.RoleHeader: {platform.RoleAdmin}}
	charge := ChargeRequest{Key: "o-1/charge-payment", OrderID: "o-1", Customer: "u-1", AmountCents: 2900}
	refund := RefundRequest{Key: charge.Key}
	steps := []struct {
		name   string
		method string
		path   string
		header http.Header
		body   any
		status int
		code   string // of an error answer
		stored string // the charge's status after the step, "" for none
	}{
		{"a customer sets faults", http.MethodPut, platform.FaultPath, nil, Faults{FailRefunds: true}, 403, "forbidden", ""},
		{"an invalid error rate", http.MethodPut, platform.FaultPath, admin, Faults{ErrorRate: 2}, 400, "bad_request", ""},
		{"lose the charge replies", http.MethodPut, platform.FaultPath, admin, Faults{LoseChargeReplies: true}, 200, "", ""},
		{"a charge whose reply is lost", http.MethodPost, "/charges", nil, charge, 504, "reply_lost", StatusCharged},
		{"its retry", http.MethodPost, "/charges", nil, charge, 504, "reply_lost", StatusCharged},
		{"fail the refunds", http.MethodPut, platform.FaultPath, admin, Faults{FailRefunds: true}, 200, "", StatusCharged},
		{"a refund that fails", http.MethodPost, "/refunds", nil, refund, 500, "injected", StatusCharged},
		{"clear the faults", http.MethodPut, platform.FaultPath, admin, Faults{}, 200, "", StatusCharged},
		{"the refund again", http.MethodPost, "/refunds", nil, refund, 200, "", StatusRefunded},
	}
	for _, st := range steps {
		b, err := json.Marshal(st.body)
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequestWithContext(t.Context(), st.method, srv.URL()+st.path, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range st.header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		err = platform.DecodeResponse(resp, nil)
		var se *platform.StatusError
		switch {
		case st.code == "" && err != nil:
			t.Fatalf("%s: %v, want %d", st.name, err, st.status)
		case st.code != "" && (!errors.As(err, &se) || se.Status != st.status || se.Code != st.code):
			t.Fatalf("%s: %v, want %d %s", st.name, err, st.status, st.code)
		}
		c, err := s.st.get(t.Context(), charge.Key)
		if got := string(c.Status); err == nil && got != st.stored || err != nil && st.stored != "" {
			t.Fatalf("%s: stored charge %+v, %v; want status %q", st.name, c, err, st.stored)
		}
	}
	var f Faults
	if err := platform.CallJSON(t.Context(), http.DefaultClient, http.MethodGet, srv.URL()+platform.FaultPath, "", nil, &f); err == nil {
		t.Fatalf("GET %s without the admin role answered %+v", platform.FaultPath, f)
	}
}
