package retry_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/retry"
)

func TestIdempotent(t *testing.T) {
	for _, tt := range []struct {
		method string
		header map[string]string
		want   bool
	}{
		{method: "", want: true}, // the client's GET
		{method: http.MethodGet, want: true},
		{method: http.MethodHead, want: true},
		{method: http.MethodOptions, want: true},
		{method: http.MethodTrace, want: true},
		{method: http.MethodPut, want: true},
		{method: http.MethodDelete, want: true},
		{method: http.MethodPost, want: false},
		{method: http.MethodPatch, want: false},
		{method: http.MethodConnect, want: false},
		{method: "PROPFIND", want: false},
		{method: "get", want: false}, // methods are case-sensitive (RFC 9110 §9.1)
		{method: http.MethodPost, header: map[string]string{"Idempotency-Key": "8e03978e-40d5-43e8-bc93-6894a57f9324"}, want: true},
		{method: http.MethodPatch, header: map[string]string{"idempotency-key": "k"}, want: true},
		{method: http.MethodPost, header: map[string]string{"Idempotency-Key": ""}, want: false},
		{method: http.MethodPost, header: map[string]string{"X-Idempotency-Key": "k"}, want: false},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://svc/x", nil)
		r.Method = tt.method
		for k, v := range tt.header {
			r.Header.Set(k, v)
		}
		if got := retry.Idempotent(r); got != tt.want {
			t.Errorf("%q %v: Idempotent %v, want %v", tt.method, tt.header, got, tt.want)
		}
	}
}

func TestReplayable(t *testing.T) {
	newReq := func(body io.Reader) *http.Request {
		r, err := http.NewRequest(http.MethodPost, "http://svc/x", body)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	stream := newReq(io.NopCloser(strings.NewReader("once")))
	for name, tt := range map[string]struct {
		r    *http.Request
		want bool
	}{
		"no body":               {newReq(nil), true},
		"http.NoBody":           {newReq(http.NoBody), true},
		"bytes, with GetBody":   {newReq(bytes.NewReader([]byte("again"))), true},
		"strings, with GetBody": {newReq(strings.NewReader("again")), true},
		"a stream read once":    {stream, false},
		"a server's request":    {httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("in")), false},
	} {
		if got := retry.Replayable(tt.r); got != tt.want {
			t.Errorf("%s: Replayable %v, want %v", name, got, tt.want)
		}
	}
}
