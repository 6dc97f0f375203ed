package routefile_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/breaker"
	"github.com/go-microkit/microkit/gateway"
	"github.com/go-microkit/microkit/gateway/routefile"
	"github.com/go-microkit/microkit/retry"
)

func registry(t testing.TB, services map[string]string) routefile.Registry {
	tag := func(v string) gateway.Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.Header.Add("X-Chain", v)
				next.ServeHTTP(w, r)
			})
		}
	}
	return routefile.Registry{
		Middleware: map[string]gateway.Middleware{"a": tag("a"), "b": tag("b")},
		Handlers: map[string]http.Handler{"health": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "healthy at "+r.URL.Path+" "+strings.Join(r.Header.Values("X-Chain"), ","))
		})},
		Service: func(name string) (gateway.Target, error) {
			u, ok := services[name]
			if !ok {
				return nil, errors.New("unknown service")
			}
			return gateway.StaticTarget(u)
		},
		Breakers: func(route string) (gateway.Breakers, error) {
			set, err := breaker.NewSet(route, 16)
			if err != nil {
				return nil, err
			}
			return gateway.BreakerSet(set)
		},
	}
}

func TestLoadAndServe(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Path+" "+strings.Join(r.Header.Values("X-Chain"), ","))
	}))
	t.Cleanup(up.Close)
	yamlDoc := `# a shop's routes
routes:
  - name: users
    path: /api/users/**
    methods: [GET, POST]
    target: ` + up.URL + `
    strip_prefix: /api
    timeout: 2s
    body_read_timeout: 5m
    upgrades: [websocket]
    retry: {max_attempts: 3, max_elapsed: 1s, statuses: [502, 503], backoff: {initial: 10ms, max: 40ms, multiplier: 3, jitter: equal}}
    breaker: true
    middleware: [a, b]
  - path: /api/orders/{id}
    service: orders
    rewrite: /v2/orders/{id}
  - path: /healthz
    handler: health
    middleware: [b]
`
	jsonDoc := `{"routes": [
  {"name": "users", "path": "/api/users/**", "methods": ["GET", "POST"], "target": "` + up.URL + `",
   "strip_prefix": "/api", "timeout": "2s", "body_read_timeout": "5m", "upgrades": ["websocket"], "retry": {"attempts": 2, "backoff": "10ms"}, "breaker": true, "middleware": ["a", "b"]},
  {"path": "/api/orders/{id}", "service": "orders", "rewrite": "/v2/orders/{id}"},
  {"path": "/healthz", "handler": "health", "middleware": ["b"]}
]}`
	for name, doc := range map[string]string{"routes.yaml": yamlDoc, "routes.json": jsonDoc} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			routes, err := routefile.Load(path, registry(t, map[string]string{"orders": up.URL}))
			if err != nil {
				t.Fatal(err)
			}
			if len(routes) != 3 || routes[0].Name != "users" || routes[0].Breakers == nil || routes[0].Retry.MaxAttempts != 3 ||
				routes[0].BodyReadTimeout != 5*time.Minute || len(routes[0].Upgrades) != 1 {
				t.Fatalf("routes %+v", routes)
			}
			g, err := gateway.New(routes, gateway.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(g)
			defer srv.Close()
			for path, want := range map[string]string{"/api/users/7": "/users/7 a,b", "/api/orders/9": "/v2/orders/9 ", "/healthz": "healthy at /healthz b"} {
				resp, err := http.Get(srv.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(body) != want {
					t.Fatalf("%s: %q, want %q", path, body, want)
				}
			}
		})
	}
	if _, err := routefile.Load(filepath.Join(t.TempDir(), "missing.yaml"), routefile.Registry{}); err == nil {
		t.Fatal("missing file accepted")
	}
}

// TestRetryForms: the retry mapping reads into a retry.Policy, and its
// older forms (attempts as retries after the first try, backoff as one
// duration) still read as they meant.
func TestRetryForms(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		retry    string
		want     retry.Policy
		statuses []int
	}{
		{"{max_attempts: 3, max_elapsed: 2s, backoff: {initial: 10ms, max: 1s, multiplier: 1.5, jitter: none}}",
			retry.Policy{MaxAttempts: 3, MaxElapsed: 2 * time.Second, Backoff: retry.Backoff{Initial: 10 * ms, Max: time.Second, Multiplier: 1.5, Jitter: retry.NoJitter}}, nil},
		{"{max_attempts: 2, backoff: {jitter: equal}, statuses: [500]}", retry.Policy{MaxAttempts: 2, Backoff: retry.Backoff{Jitter: retry.EqualJitter}}, []int{500}},
		{"{attempts: 2, backoff: 100ms}", retry.Policy{MaxAttempts: 3, Backoff: retry.Backoff{Initial: 100 * ms, Max: 100 * ms}}, nil},
		{"{attempts: 0}", retry.Policy{MaxAttempts: 1}, nil},
	} {
		doc := "routes:\n  - path: /a\n    target: http://h\n    retry: " + tt.retry + "\n"
		routes, err := routefile.Parse([]byte(doc), registry(t, nil))
		if err != nil {
			t.Fatalf("%s: %v", tt.retry, err)
		}
		if got := routes[0]; got.Retry != tt.want || !slices.Equal(got.RetryStatuses, tt.statuses) {
			t.Errorf("%s: Retry %+v, statuses %v; want %+v, %v", tt.retry, got.Retry, got.RetryStatuses, tt.want, tt.statuses)
		}
	}
}

func TestErrorsNameLineAndField(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		line  int
		field string
	}{
		{"syntax", "routes:\n  - path: [\n", 2, "(file)"},
		{"not a mapping", "- 1\n", 1, "(file)"},
		{"unknown top key", "routez: []\n", 1, "routez"},
		{"routes not a list", "routes: 3\n", 1, "routes"},
		{"route not a mapping", "routes:\n  - 3\n", 2, "routes[0]"},
		{"bad duration", "routes:\n  - path: /a\n    target: http://h\n    timeout: 2x\n", 4, "routes[0].timeout"},
		{"unknown key", "routes:\n  - path: /a\n    targte: http://h\n", 3, "routes[0].targte"},
		{"repeated key", "routes:\n  - path: /a\n    path: /b\n    target: http://h\n", 3, "routes[0].path"},
		{"bad pattern", "routes:\n  - path: /a\n    target: http://h\n  - path: /a/**/b\n    target: http://h\n", 4, "routes[1].path"},
		{"bad target", "routes:\n  - path: /a\n    target: ftp://h\n", 3, "routes[0].target"},
		{"no target", "routes:\n  - path: /a\n", 2, "routes[0]"},
		{"both targets", "routes:\n  - path: /a\n    target: http://h\n    service: s\n", 4, "routes[0].service"},
		{"target and handler", "routes:\n  - path: /a\n    target: http://h\n    handler: health\n", 4, "routes[0].handler"},
		{"unknown handler", "routes:\n  - path: /a\n    handler: nope\n", 3, "routes[0].handler"},
		{"retry on a handler", "routes:\n  - path: /a\n    handler: health\n    retry: {attempts: 1}\n", 4, "routes[0].retry"},
		{"breaker on a handler", "routes:\n  - path: /a\n    handler: health\n    breaker: true\n", 4, "routes[0].breaker"},
		{"preserve host on a handler", "routes:\n  - path: /a\n    handler: health\n    preserve_host: true\n", 4, "routes[0].preserve_host"},
		{"unknown service", "routes:\n  - path: /a\n    service: nope\n", 3, "routes[0].service"},
		{"unknown middleware", "routes:\n  - path: /a\n    target: http://h\n    middleware:\n      - a\n      - c\n", 6, "routes[0].middleware[1]"},
		{"bad retry key", "routes:\n  - path: /a\n    target: http://h\n    retry:\n      tries: 2\n", 5, "routes[0].retry.tries"},
		{"negative attempts", "routes:\n  - path: /a\n    target: http://h\n    retry: {attempts: -1}\n", 4, "routes[0].retry.attempts"},
		{"retry for ever", "routes:\n  - path: /a\n    target: http://h\n    retry: {max_attempts: -1}\n", 4, "routes[0].retry"},
		{"both attempts keys", "routes:\n  - path: /a\n    target: http://h\n    retry: {attempts: 1, max_attempts: 2}\n", 4, "routes[0].retry.max_attempts"},
		{"bad jitter", "routes:\n  - path: /a\n    target: http://h\n    retry:\n      backoff: {jitter: some}\n", 5, "routes[0].retry.backoff.jitter"},
		{"bad backoff key", "routes:\n  - path: /a\n    target: http://h\n    retry:\n      backoff:\n        start: 1s\n", 6, "routes[0].retry.backoff.start"},
		{"backoff max below initial", "routes:\n  - path: /a\n    target: http://h\n    retry: {max_attempts: 2, backoff: {initial: 2s, max: 1s}}\n", 4, "routes[0].retry"},
		{"strip prefix", "routes:\n  - path: /a/b\n    target: http://h\n    strip_prefix: /x\n", 4, "routes[0].strip_prefix"},
		{"duplicate route", "routes:\n  - path: /a\n    target: http://h\n    methods: [GET]\n  - path: /a\n    target: http://h\n", 5, "routes[1].path"},
		{"equivalent route", "routes:\n  - path: /a/{id}\n    target: http://h\n    methods: [GET]\n  - path: /a/{key}\n    target: http://h\n    methods: [get]\n", 5, "routes[1].path"},
		{"h2c upgrade", "routes:\n  - path: /a\n    target: http://h\n    upgrades: [h2c]\n", 4, "routes[0].upgrades"},
		{"bad body read timeout", "routes:\n  - path: /a\n    target: http://h\n    body_read_timeout: -1s\n", 4, "routes[0].body_read_timeout"},
		{"methods type", "routes:\n  - path: /a\n    target: http://h\n    methods: {a: 1}\n", 4, "routes[0].methods"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := routefile.Parse([]byte(tt.doc), registry(t, nil))
			var fe *routefile.Error
			if !errors.As(err, &fe) || !errors.Is(err, routefile.ErrInvalid) {
				t.Fatalf("error %v, want a routefile.Error", err)
			}
			if fe.Line != tt.line || fe.Field != tt.field {
				t.Fatalf("error at line %d field %q (%v), want line %d field %q", fe.Line, fe.Field, err, tt.line, tt.field)
			}
		})
	}
}

// FuzzParse: any input either parses into routes that gateway.New accepts
// or fails with an error wrapping ErrInvalid.
func FuzzParse(f *testing.F) {
	f.Add([]byte("routes:\n  - path: /api/users/**\n    target: http://h:1\n    strip_prefix: /api\n"))
	f.Add([]byte(`{"routes":[{"path":"/a/{id}","target":"http://h","rewrite":"/b/{id}","retry":{"attempts":1}}]}`))
	f.Add([]byte("routes:\n  - path: /a\n    service: s\n    middleware: [a]\n    breaker: true\n"))
	f.Add([]byte("routes:\n  - path: /h/{id}\n    handler: health\n    strip_prefix: /h\n"))
	f.Add([]byte("routes: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		routes, err := routefile.Parse(data, registry(t, map[string]string{"s": "http://127.0.0.1:1"}))
		if err != nil {
			if !errors.Is(err, routefile.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if _, err := gateway.New(routes); err != nil {
			t.Fatalf("parsed routes rejected by gateway.New: %v", err)
		}
	})
}

func ExampleParse() {
	routes, err := routefile.Parse([]byte(`
routes:
  - name: users
    path: /api/users/**
    target: http://127.0.0.1:8081
    strip_prefix: /api
    timeout: 1x
`), routefile.Registry{})
	fmt.Println(len(routes), err)
	// Output:
	// 0 routefile: line 7: routes[0].timeout: invalid duration "1x"
}
