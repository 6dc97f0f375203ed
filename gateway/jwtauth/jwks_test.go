package jwtauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/go-microkit/microkit/gateway/jwtauth"
	"github.com/go-microkit/microkit/internal/memhttp"
)

// idp is a JWKS endpoint whose key set the test can rotate. Tests in a
// synctest bubble reach it in memory through jwks, since a bubble's clock
// cannot wait on network I/O; TestJWKSOverHTTP serves it on a real server.
type idp struct {
	mu     sync.Mutex
	doc    []byte
	status int
}

func newIDP(keys ...jwtauth.Key) *idp {
	return &idp{doc: jwkJSON(keys...), status: 200}
}

func (p *idp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w.WriteHeader(p.status)
	_, _ = w.Write(p.doc)
}

func (p *idp) set(status int, keys ...jwtauth.Key) {
	p.mu.Lock()
	p.status, p.doc = status, jwkJSON(keys...)
	p.mu.Unlock()
}

// jwks returns a JWKS that fetches from p in memory.
func (p *idp) jwks(t *testing.T, opts ...jwtauth.JWKSOption) *jwtauth.JWKS {
	t.Helper()
	return inMemoryJWKS(t, p, opts...)
}

// inMemoryJWKS returns a JWKS whose fetches h serves in the same process.
func inMemoryJWKS(t *testing.T, h http.Handler, opts ...jwtauth.JWKSOption) *jwtauth.JWKS {
	t.Helper()
	client := &http.Client{Transport: memhttp.Transport{Handler: h}}
	opts = append([]jwtauth.JWKSOption{jwtauth.WithHTTPClient(client), jwtauth.WithJWKSLogger(slog.New(slog.DiscardHandler))}, opts...)
	j, err := jwtauth.NewJWKS("https://idp.example/jwks", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// TestJWKSOverHTTP fetches a key set from a real HTTP server.
func TestJWKSOverHTTP(t *testing.T) {
	testKeys(t)
	k1 := jwtauth.Key{ID: "k1", Algorithm: jwtauth.RS256, Key: &rsaKey.PublicKey}
	srv := httptest.NewServer(newIDP(k1))
	t.Cleanup(srv.Close)
	j, err := jwtauth.NewJWKS(srv.URL, jwtauth.WithJWKSLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if k, err := j.Key(context.Background(), "k1"); err != nil || k.ID != "k1" {
			t.Fatalf("Key = %+v, %v", k, err)
		}
	}
	if j.Fetches() != 1 {
		t.Fatalf("%d fetches, want 1", j.Fetches())
	}
}

func TestJWKSRotationAndRefreshLimit(t *testing.T) {
	atNow(t, func(t *testing.T) {
		testKeys(t)
		ec2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		k1 := jwtauth.Key{ID: "k1", Algorithm: jwtauth.RS256, Key: &rsaKey.PublicKey}
		k2 := jwtauth.Key{ID: "k2", Algorithm: jwtauth.ES256, Key: &ec2.PublicKey}
		p := newIDP(k1)
		jwks := p.jwks(t, jwtauth.WithMinRefreshInterval(time.Minute))
		a := newAuth(t, jwks)
		ctx := context.Background()
		verify := func(tok string) error { _, err := a.Verify(ctx, tok); return err }

		if err := verify(sign(t, jwt.SigningMethodRS256, "k1", rsaKey, claims(nil))); err != nil {
			t.Fatal(err)
		}
		if err := verify(sign(t, jwt.SigningMethodRS256, "k1", rsaKey, claims(nil))); err != nil || jwks.Fetches() != 1 {
			t.Fatalf("second token: %v, %d fetches (want the cached set)", err, jwks.Fetches())
		}
		// A flood of made-up kids within the refresh interval: no fetch.
		for range 20 {
			if err := verify(sign(t, jwt.SigningMethodES256, "made-up", ecKey, claims(nil))); !errors.Is(err, jwtauth.ErrInvalidToken) {
				t.Fatalf("unknown kid: %v", err)
			}
		}
		if jwks.Fetches() != 1 {
			t.Fatalf("%d fetches during the refresh interval, want 1", jwks.Fetches())
		}
		// The provider rotates to k2; after the interval an unknown kid
		// triggers one refetch that finds it.
		p.set(200, k1, k2)
		time.Sleep(time.Minute)
		if err := verify(sign(t, jwt.SigningMethodES256, "k2", ec2, claims(nil))); err != nil || jwks.Fetches() != 2 {
			t.Fatalf("rotated key: %v after %d fetches", err, jwks.Fetches())
		}
		// The provider fails: the cached keys keep working once stale.
		p.set(500)
		time.Sleep(2 * time.Hour)
		fresh := claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(time.Hour).Unix() })
		if err := verify(sign(t, jwt.SigningMethodRS256, "k1", rsaKey, fresh)); err != nil {
			t.Fatalf("stale set not used while the provider is down: %v", err)
		}
		if _, err := jwks.Key(ctx, "k9"); !errors.Is(err, jwtauth.ErrUnknownKey) && !errors.Is(err, jwtauth.ErrJWKSFetch) {
			t.Fatalf("unknown kid while the provider is down: %v", err)
		}
	})
}

func TestJWKSFetchErrors(t *testing.T) {
	p := newIDP()
	p.set(404)
	j := p.jwks(t)
	if _, err := j.Key(context.Background(), "x"); !errors.Is(err, jwtauth.ErrJWKSFetch) {
		t.Fatalf("404: %v", err)
	}
	if _, err := jwtauth.NewJWKS("https://idp.example/jwks", jwtauth.WithHTTPClient(nil), jwtauth.WithJWKSLogger(nil)); err != nil {
		t.Errorf("nil client and logger mean the defaults: %v", err)
	}
	for _, bad := range []jwtauth.JWKSOption{jwtauth.WithMinRefreshInterval(-1), jwtauth.WithMaxAge(0)} {
		if _, err := jwtauth.NewJWKS("https://idp.example/jwks", bad); !errors.Is(err, jwtauth.ErrInvalidOption) {
			t.Errorf("option error %v", err)
		}
	}
	if _, err := jwtauth.NewJWKS("file:///etc/passwd"); !errors.Is(err, jwtauth.ErrInvalidOption) {
		t.Error("file URL accepted")
	}
}

func TestParseJWKS(t *testing.T) {
	keys, err := jwtauth.ParseJWKS(jwkJSON(allKeys(t)[1:]...))
	if err != nil || len(keys) != 3 {
		t.Fatalf("ParseJWKS = %d keys, %v", len(keys), err)
	}
	for i, want := range []string{jwtauth.RS256, jwtauth.ES256, jwtauth.EdDSA} {
		if keys[i].Algorithm != want {
			t.Errorf("key %d algorithm %s, want %s", i, keys[i].Algorithm, want)
		}
	}
	tests := []struct {
		name  string
		doc   string
		n     int
		isErr bool
	}{
		{"not JSON", `{`, 0, true},
		{"oct skipped", `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, 0, false},
		{"encryption key skipped", `{"keys":[{"kty":"OKP","crv":"Ed25519","use":"enc","x":"AAAA"}]}`, 0, false},
		{"P-384 skipped", `{"keys":[{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}]}`, 0, false},
		{"alg mismatch", `{"keys":[{"kty":"RSA","alg":"HS256","n":"AQAB","e":"AQAB"}]}`, 0, true},
		{"EC point off the curve", `{"keys":[{"kty":"EC","crv":"P-256","x":"` + b64(make([]byte, 32)) + `","y":"` + b64(make([]byte, 32)) + `"}]}`, 0, true},
		{"small RSA", `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := jwtauth.ParseJWKS([]byte(tt.doc))
			if len(keys) != tt.n || (err != nil) != tt.isErr {
				t.Fatalf("ParseJWKS = %d keys, %v", len(keys), err)
			}
		})
	}
}

// FuzzParseJWKS: any input either fails or yields only keys that pass
// Validate.
func FuzzParseJWKS(f *testing.F) {
	testKeys(f)
	f.Add(jwkJSON(allKeys(f)[1:]...))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + b64(make([]byte, 32)) + `"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, _ := jwtauth.ParseJWKS(data)
		for _, k := range keys {
			if err := k.Validate(); err != nil {
				t.Fatalf("ParseJWKS returned an invalid key: %v", err)
			}
		}
	})
}

func ExampleNewJWKS() {
	// Keys come from the identity provider; a token naming a kid the cache
	// does not know triggers one refetch at most once a minute.
	jwks, err := jwtauth.NewJWKS("https://idp.example/.well-known/jwks.json", jwtauth.WithMinRefreshInterval(time.Minute))
	if err != nil {
		panic(err)
	}
	auth, err := jwtauth.New(jwks, jwtauth.WithIssuer("https://idp.example"), jwtauth.WithAudience("shop"),
		jwtauth.WithLeeway(30*time.Second), jwtauth.WithAlgorithms(jwtauth.RS256, jwtauth.ES256))
	if err != nil {
		panic(err)
	}
	_ = auth.Middleware() // goes into gateway.Route.Middleware
}

func ExampleAuthenticator_Middleware() {
	secret := []byte("0123456789abcdef0123456789abcdef")
	keys, _ := jwtauth.StaticKeys(jwtauth.Key{ID: "v1", Algorithm: jwtauth.HS256, Key: secret})
	auth, _ := jwtauth.New(keys, jwtauth.WithIssuer("shop-auth"))
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello "+r.Header.Get("X-Auth-Subject"))
	})
	srv := httptest.NewServer(auth.Middleware()(upstream))
	defer srv.Close()

	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "ada", "iss": "shop-auth", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "v1"
	signed, _ := tok.SignedString(secret)
	for _, authz := range []string{"Bearer " + signed, ""} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("X-Auth-Subject", "admin") // forged: always removed
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, _ := http.DefaultClient.Do(req)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// 200 hello ada
	// 401 {"error":{"status":401,"code":"unauthorized","message":"bearer token required"}}
}

// TestJWKSFetchOutlivesTheRequest: a request that is already canceled when
// its unknown kid triggers a refetch still completes the fetch, so that a
// client hanging up at once cannot use up the refresh interval and keep a
// rotated key out.
func TestJWKSFetchOutlivesTheRequest(t *testing.T) {
	atNow(t, func(t *testing.T) {
		testKeys(t)
		k1 := jwtauth.Key{ID: "k1", Algorithm: jwtauth.RS256, Key: &rsaKey.PublicKey}
		k2 := jwtauth.Key{ID: "k2", Algorithm: jwtauth.ES256, Key: &ecKey.PublicKey}
		p := newIDP(k1)
		jwks := p.jwks(t)
		if _, err := jwks.Key(context.Background(), "k1"); err != nil {
			t.Fatal(err)
		}
		p.set(200, k1, k2)
		time.Sleep(time.Minute)
		canceled, cancel := context.WithCancel(context.Background())
		cancel()
		_, _ = jwks.Key(canceled, "k2") // the client hung up; the fetch goes on
		if k, err := jwks.Key(context.Background(), "k2"); err != nil || k.ID != "k2" || jwks.Fetches() != 2 {
			t.Fatalf("rotated key after a canceled fetch: %v, %d fetches", err, jwks.Fetches())
		}
	})
}

// TestJWKSStaleKeyServesDuringRefetch: once the set is older than MaxAge,
// one request refetches it; while the provider is slow to answer, other
// requests for a key the stale set holds go on with it instead of waiting.
func TestJWKSStaleKeyServesDuringRefetch(t *testing.T) {
	atNow(t, func(t *testing.T) {
		testKeys(t)
		k1 := jwtauth.Key{ID: "k1", Algorithm: jwtauth.RS256, Key: &rsaKey.PublicKey}
		entered, release := make(chan struct{}), make(chan struct{})
		var calls sync.Mutex
		n := 0
		provider := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Lock()
			n++
			slow := n == 2
			calls.Unlock()
			if slow {
				close(entered)
				<-release
			}
			_, _ = w.Write(jwkJSON(k1))
		})
		var once sync.Once
		unblock := func() { once.Do(func() { close(release) }) }
		t.Cleanup(unblock)
		jwks := inMemoryJWKS(t, provider, jwtauth.WithMaxAge(time.Hour))
		if _, err := jwks.Key(context.Background(), "k1"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Hour)
		refetched := make(chan error, 1)
		go func() {
			_, err := jwks.Key(context.Background(), "k1")
			refetched <- err
		}()
		<-entered // the refetch is waiting for the provider
		// Without the stale key this call would wait for the refetch, which
		// the provider holds until after it returns: the test would hang.
		if k, err := jwks.Key(context.Background(), "k1"); err != nil || k.ID != "k1" {
			t.Fatalf("stale key during the refetch: %v", err)
		}
		unblock()
		if err := <-refetched; err != nil {
			t.Fatal(err)
		}
		if jwks.Fetches() != 2 {
			t.Fatalf("%d fetches, want 2", jwks.Fetches())
		}
	})
}
