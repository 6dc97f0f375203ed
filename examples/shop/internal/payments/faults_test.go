package payments

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/go-microkit/microkit/examples/shop/internal/platform"
)

// The faults, set through /admin/faults, in the order a saga meets them:
// a charge whose reply is lost is made (once, however often it is asked
// for) and answered 504 reply_lost; a refund under fail_refunds answers
// 500 and refunds nothing; once the faults are cleared the refund goes
// through. Only the admin role sets them, and only valid ones.
func TestInjectedFaults(t *testing.T) {
	srv, err := platform.NewServer("payment-test", "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{cfg: Config{LimitCents: DefaultLimitCents}, st: openStore(t, filepath.Join(t.TempDir(), "payments.db")), srv: srv}
	s.routes()
	srv.Start()
	t.Cleanup(func() { _ = srv.Shutdown(t.Context()) })

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
