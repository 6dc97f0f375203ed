package platform

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/gateway"
)

// line and order stand in for a service's request types.
type line struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

type order struct {
	ID    string `json:"id"`
	Items []line `json:"items"`
	Paid  bool   `json:"paid"`
}

// goText is what encoding/json's own messages say and a client must never
// read: Go types, struct names and the decoder's prefix.
var goText = []string{"Go struct", "Go value", "struct field", "int64", "platform.", "line.", "json:"}

// readJSON runs ReadJSON on body as a service's handler would, behind the
// Server's middleware, and returns the answer.
func readJSON(t testing.TB, body io.Reader, contentLength int64) (*httptest.ResponseRecorder, bool) {
	t.Helper()
	var ok bool
	h := gateway.Chain(gateway.RequestID())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var o order
		if ok = ReadJSON(w, r, &o); ok {
			WriteJSON(w, http.StatusOK, o)
		}
	}))
	req := httptest.NewRequest(http.MethodPost, "/orders", body)
	req.ContentLength = contentLength
	req.Header.Set(gateway.RequestIDHeader, "req-1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec, ok
}

func TestReadJSON(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		status  int
		message string // a part of the error message
	}{
		{"valid", `{"id":"o-1","items":[{"product_id":"p","quantity":2}]}`, 200, ""},
		{"valid with surrounding space", " \n{\"id\":\"o-1\"}\n\t ", 200, ""},
		{"empty", ``, 400, "empty body"},
		{"only space", `   `, 400, "empty body"},
		{"trailing garbage", `{"id":"o-1"} garbage`, 400, "unexpected data after the JSON value"},
		{"trailing value", `{"id":"o-1"}{"id":"o-2"}`, 400, "unexpected data after the JSON value"},
		{"trailing brace", `{"id":"o-1"}}`, 400, "unexpected data after the JSON value"},
		{"unknown field", `{"id":"o-1","coupon":"FREE"}`, 400, `unknown field "coupon"`},
		{"unknown nested field", `{"items":[{"product_id":"p","price":1}]}`, 400, `unknown field "price"`},
		{"string for an integer", `{"items":[{"product_id":"p","quantity":"2"}]}`, 400, `field "items.quantity" must be an integer, not string`},
		{"fraction for an integer", `{"items":[{"quantity":1.5}]}`, 400, `field "items.quantity" must be an integer`},
		{"integer overflow", `{"items":[{"quantity":1e400}]}`, 400, `field "items.quantity" must be an integer`},
		{"number for a string", `{"id":1}`, 400, `field "id" must be a string, not number`},
		{"object for an array", `{"items":{}}`, 400, `field "items" must be an array, not object`},
		{"string for a bool", `{"paid":"yes"}`, 400, `field "paid" must be true or false`},
		{"array for the body", `[1]`, 400, "the body must be an object, not array"},
		{"malformed", `{"id":`, 400, "the JSON value ends early"},
		{"syntax error", `{"id" "o-1"}`, 400, "malformed JSON near byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, ok := readJSON(t, strings.NewReader(tt.body), int64(len(tt.body)))
			if rec.Code != tt.status || ok != (tt.status == 200) {
				t.Fatalf("status %d, ok %v, want %d: %s", rec.Code, ok, tt.status, rec.Body)
			}
			if tt.status == 200 {
				return
			}
			e := decodeErrorBody(t, rec.Body.Bytes())
			if e.Status != tt.status || e.Code != gateway.CodeBadRequest || e.RequestID != "req-1" {
				t.Errorf("error %+v, want status %d, bad_request and request id req-1", e, tt.status)
			}
			if !strings.Contains(e.Message, tt.message) {
				t.Errorf("message %q, want it to contain %q", e.Message, tt.message)
			}
		})
	}
}

// A body over MaxBodyBytes is 413, whether its length is declared (refused
// before reading) or not (cut off while reading), and however far past the
// value the limit falls.
func TestReadJSONTooLarge(t *testing.T) {
	big := `{"id":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	tail := `{"id":"o-1"}` + strings.Repeat(" ", MaxBodyBytes)
	tests := []struct {
		name   string
		body   string
		length int64
	}{
		{"declared", big, int64(len(big))},
		{"streamed", big, -1},
		{"streamed past the value", tail, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, ok := readJSON(t, io.MultiReader(strings.NewReader(tt.body)), tt.length)
			if rec.Code != http.StatusRequestEntityTooLarge || ok {
				t.Fatalf("status %d, ok %v, want 413: %.200s", rec.Code, ok, rec.Body)
			}
			if e := decodeErrorBody(t, rec.Body.Bytes()); e.Code != gateway.CodeTooLarge {
				t.Errorf("code %q, want %q", e.Code, gateway.CodeTooLarge)
			}
		})
	}
}

func decodeErrorBody(t testing.TB, b []byte) gateway.ErrorDetail {
	t.Helper()
	var eb gateway.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil {
		t.Fatalf("error body %s: %v", b, err)
	}
	for _, s := range goText {
		if strings.Contains(eb.Error.Message, s) {
			t.Errorf("message %q carries %q", eb.Error.Message, s)
		}
	}
	return eb.Error
}

// Whatever the body, ReadJSON accepts it and the value round-trips, or
// refuses it with 400 or 413 in the gateway's error shape, in words
// without Go types.
func FuzzReadJSON(f *testing.F) {
	for _, s := range []string{`{"id":"o-1","items":[{"product_id":"p","quantity":2}]}`, `{"items":[{"quantity":"2"}]}`,
		`{"id":1}`, `{"x":1}`, `{} {}`, `[`, `null`, `{"items":null}`, `"s"`, `{"paid":true}garbage`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec, ok := readJSON(t, bytes.NewReader(body), int64(len(body)))
		if ok {
			if rec.Code != http.StatusOK || !json.Valid(bytes.TrimSpace(body)) {
				t.Fatalf("accepted %q with status %d", body, rec.Code)
			}
			return
		}
		if rec.Code != http.StatusBadRequest && rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("refused %q with status %d", body, rec.Code)
		}
		decodeErrorBody(t, rec.Body.Bytes())
	})
}

// The Server answers in the gateway's error shape also where no handler
// of the service ran: an unknown path, a method the path does not take,
// a panic, an internal error (whose detail goes to the log only).
func TestServerErrorsHaveTheGatewayShape(t *testing.T) {
	var log bytes.Buffer
	s, err := NewServer("test-service", "127.0.0.1:0", slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("id") {
		case "panic":
			panic("boom")
		case "broken":
			WriteInternal(w, r, errors.New(`sql: UNIQUE constraint failed: things.id`))
		}
	})
	s.Handle("GET /admin", RequireRole(RoleAdmin, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, "ok")
	})))
	s.Start()
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })

	tests := []struct {
		method, path string
		header       http.Header
		status       int
		code         string
	}{
		{"GET", "/nothing", nil, 404, gateway.CodeNotFound},
		{"POST", "/things/1", nil, 405, gateway.CodeMethodNotAllowed},
		{"GET", "/things/panic", nil, 500, gateway.CodeInternal},
		{"GET", "/things/broken", nil, 500, gateway.CodeInternal},
		{"GET", "/admin", nil, 403, gateway.CodeForbidden},
		{"GET", "/admin", http.Header{RoleHeader: {"customer"}}, 403, gateway.CodeForbidden},
		{"GET", "/admin", http.Header{RoleHeader: {RoleAdmin}}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, s.URL()+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = tt.header.Clone()
			if req.Header == nil {
				req.Header = http.Header{}
			}
			req.Header.Set(gateway.RequestIDHeader, "req-7")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.status == 200 {
				return
			}
			e := decodeErrorBody(t, b)
			if e.Status != tt.status || e.Code != tt.code || e.RequestID != "req-7" {
				t.Errorf("error %+v, want status %d, code %q, request id req-7", e, tt.status, tt.code)
			}
			if strings.Contains(e.Message, "UNIQUE") || strings.Contains(e.Message, "boom") {
				t.Errorf("message %q carries the internal detail", e.Message)
			}
			if tt.status == 405 && resp.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
	if !strings.Contains(log.String(), "UNIQUE constraint failed") || !strings.Contains(log.String(), "req-7") {
		t.Errorf("the log lacks the internal error's detail and request id:\n%s", log.String())
	}
}
