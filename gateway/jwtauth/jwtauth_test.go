package jwtauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/go-microkit/microkit/gateway/jwtauth"
)

// now is the instant the test tokens are issued for; tests that verify
// them run at it through atNow.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// atNow runs f in a synctest bubble whose clock reads now: the bubble's
// clock starts at 2000-01-01, and sleeping to now moves it there at once.
func atNow(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(time.Until(now))
		f(t)
	})
}

var (
	keysOnce sync.Once
	hsSecret = []byte("0123456789abcdef0123456789abcdef")
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	edPub    ed25519.PublicKey
	edKey    ed25519.PrivateKey
)

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if edPub, edKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
}

func allKeys(t testing.TB) []jwtauth.Key {
	testKeys(t)
	return []jwtauth.Key{
		{ID: "hs", Algorithm: jwtauth.HS256, Key: hsSecret},
		{ID: "rs", Algorithm: jwtauth.RS256, Key: &rsaKey.PublicKey},
		{ID: "es", Algorithm: jwtauth.ES256, Key: &ecKey.PublicKey},
		{ID: "ed", Algorithm: jwtauth.EdDSA, Key: edPub},
	}
}

func claims(mod func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "user-1", "iss": "https://idp.example", "aud": "shop",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Add(-time.Minute).Unix()}
	if mod != nil {
		mod(c)
	}
	return c
}

func sign(t testing.TB, m jwt.SigningMethod, kid string, key any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signWithHeader signs valid HS256 claims with an extra header field.
func signWithHeader(t testing.TB, name string, value any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
	tok.Header["kid"] = "hs"
	tok.Header[name] = value
	s, err := tok.SignedString(hsSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsigned builds "alg: none" tokens by hand.
func unsigned(c jwt.MapClaims) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(b) + "."
}

func newAuth(t testing.TB, src jwtauth.KeySource, opts ...jwtauth.Option) *jwtauth.Authenticator {
	t.Helper()
	opts = append([]jwtauth.Option{jwtauth.WithIssuer("https://idp.example"),
		jwtauth.WithAudience("shop"), jwtauth.WithLeeway(30 * time.Second)}, opts...)
	a, err := jwtauth.New(src, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestVerify(t *testing.T) {
	src, err := jwtauth.StaticKeys(allKeys(t)...)
	if err != nil {
		t.Fatal(err)
	}
	a := newAuth(t, src)
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&rsaKey.PublicKey))})
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"HS256", sign(t, jwt.SigningMethodHS256, "hs", hsSecret, claims(nil)), true},
		{"RS256", sign(t, jwt.SigningMethodRS256, "rs", rsaKey, claims(nil)), true},
		{"ES256", sign(t, jwt.SigningMethodES256, "es", ecKey, claims(nil)), true},
		{"EdDSA", sign(t, jwt.SigningMethodEdDSA, "ed", edKey, claims(nil)), true},
		{"alg none", unsigned(claims(nil)), false},
		{"HS256 signed with the RSA public key", sign(t, jwt.SigningMethodHS256, "rs", rsaPEM, claims(nil)), false},
		{"HS256 signed with the RSA modulus", sign(t, jwt.SigningMethodHS256, "rs", rsaKey.N.Bytes(), claims(nil)), false},
		{"RS256 token under the HS key id", sign(t, jwt.SigningMethodRS256, "hs", rsaKey, claims(nil)), false},
		{"RS384 not allowed", sign(t, jwt.SigningMethodRS384, "rs", rsaKey, claims(nil)), false},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, "hs", []byte("another secret of at least 32 bytes!"), claims(nil)), false},
		{"expired", sign(t, jwt.SigningMethodHS256, "hs", hsSecret, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), false},
		{"expired within leeway", sign(t, jwt.SigningMethodHS256, "hs", hsSecret, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-10 * time.Second).Unix() })), true},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, "hs", hsSecret, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() })), false},
		{"not yet valid within leeway", sign(t, jwt.SigningMethodHS256, "hs", hsSecret, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Second).Unix() })), true},
		{"issued in the future", sign(t, jwt.SigningMethodHS256, "hs", hsSecret, claims(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() })), false},
		{"no exp", sign(t, jwt.SigningMethodHS256, "hs", hsSecret, claims(func(c jwt.MapClaims) { delete(c, "exp") })), false},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, "hs", hsSecret, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), false},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, "hs", hsSecret, claims(func(c jwt.MapClaims) { c["aud"] = "admin" })), false},
		{"audience list", sign(t, jwt.SigningMethodHS256, "hs", hsSecret, claims(func(c jwt.MapClaims) { c["aud"] = []string{"x", "shop"} })), true},
		{"no subject", sign(t, jwt.SigningMethodHS256, "hs", hsSecret, claims(func(c jwt.MapClaims) { delete(c, "sub") })), false},
		{"unknown kid", sign(t, jwt.SigningMethodHS256, "nope", hsSecret, claims(nil)), false},
		{"no kid with several keys", sign(t, jwt.SigningMethodHS256, "", hsSecret, claims(nil)), false},
		{"garbage", "a.b.c", false},
		{"crit header", signWithHeader(t, "crit", []string{"exp"}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			atNow(t, func(t *testing.T) {
				c, err := a.Verify(context.Background(), tt.token)
				if tt.ok {
					if err != nil || c.Subject != "user-1" || c.Issuer != "https://idp.example" {
						t.Fatalf("Verify = %+v, %v", c, err)
					}
					return
				}
				if !errors.Is(err, jwtauth.ErrInvalidToken) {
					t.Fatalf("Verify error = %v, want ErrInvalidToken", err)
				}
			})
		})
	}
}

func TestPinnedAlgorithms(t *testing.T) {
	atNow(t, func(t *testing.T) {
		src, _ := jwtauth.StaticKeys(allKeys(t)...)
		a := newAuth(t, src, jwtauth.WithAlgorithms(jwtauth.RS256))
		if _, err := a.Verify(context.Background(), sign(t, jwt.SigningMethodHS256, "hs", hsSecret, claims(nil))); !errors.Is(err, jwtauth.ErrInvalidToken) {
			t.Fatalf("HS256 accepted with only RS256 pinned: %v", err)
		}
		if _, err := a.Verify(context.Background(), sign(t, jwt.SigningMethodRS256, "rs", rsaKey, claims(nil))); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSingleKeyWithoutKid(t *testing.T) {
	atNow(t, func(t *testing.T) {
		src, _ := jwtauth.StaticKeys(jwtauth.Key{Algorithm: jwtauth.HS256, Key: hsSecret})
		a := newAuth(t, src)
		if _, err := a.Verify(context.Background(), sign(t, jwt.SigningMethodHS256, "", hsSecret, claims(nil))); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMiddleware(t *testing.T) {
	src, _ := jwtauth.StaticKeys(allKeys(t)...)
	var gotHeader, gotCtx string
	var gotClaims *jwtauth.Claims
	up := func(a *jwtauth.Authenticator) http.Handler {
		return a.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			gotHeader = r.Header.Get("X-Auth-Subject")
			if v, ok := r.Header["X_auth_subject"]; ok {
				gotHeader += " and X_auth_subject " + strings.Join(v, ",")
			}
			gotClaims = jwtauth.ClaimsFromContext(r.Context())
			gotCtx = ""
			if gotClaims != nil {
				gotCtx = gotClaims.Subject
			}
		}))
	}
	good := sign(t, jwt.SigningMethodES256, "es", ecKey, claims(nil))
	tests := []struct {
		name     string
		optional bool
		auth     []string
		status   int
		subject  string
		wwwAuth  string
	}{
		{"valid", false, []string{"Bearer " + good}, 200, "user-1", ""},
		{"lower-case scheme", false, []string{"bearer " + good}, 200, "user-1", ""},
		{"missing", false, nil, 401, "", `Bearer realm="api"`},
		{"basic", false, []string{"Basic dTpw"}, 401, "", `Bearer realm="api"`},
		{"two headers", false, []string{"Bearer " + good, "Bearer " + good}, 401, "", `Bearer realm="api"`},
		{"invalid", false, []string{"Bearer x.y.z"}, 401, "", `Bearer realm="api", error="invalid_token", error_description="invalid or expired token"`},
		{"optional anonymous", true, nil, 200, "", ""},
		{"optional invalid", true, []string{"Bearer x.y.z"}, 401, "", `Bearer realm="api", error="invalid_token", error_description="invalid or expired token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			atNow(t, func(t *testing.T) {
				var opts []jwtauth.Option
				if tt.optional {
					opts = append(opts, jwtauth.WithOptional())
				}
				h := up(newAuth(t, src, opts...))
				r := httptest.NewRequest("GET", "/", nil)
				r.Header["Authorization"] = tt.auth
				r.Header.Set("X-Auth-Subject", "admin")        // forged
				r.Header["X_auth_subject"] = []string{"admin"} // forged, read as the same header by CGI-style upstreams
				gotHeader, gotCtx = "unset", "unset"
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != tt.status || w.Header().Get("WWW-Authenticate") != tt.wwwAuth {
					t.Fatalf("got %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
				}
				if tt.status == 200 && (gotHeader != tt.subject || gotCtx != tt.subject) {
					t.Fatalf("upstream saw subject header %q, context %q; want %q", gotHeader, gotCtx, tt.subject)
				}
			})
		})
	}
}

func TestOptionErrors(t *testing.T) {
	src, _ := jwtauth.StaticKeys(allKeys(t)...)
	for _, o := range []jwtauth.Option{jwtauth.WithAlgorithms("none"), jwtauth.WithAlgorithms(), jwtauth.WithIssuer(""),
		jwtauth.WithAudience(), jwtauth.WithLeeway(-1), jwtauth.WithSubjectHeader(""), jwtauth.WithRealm(`"`)} {
		if _, err := jwtauth.New(src, o); !errors.Is(err, jwtauth.ErrInvalidOption) {
			t.Errorf("option error = %v", err)
		}
	}
	if _, err := jwtauth.New(nil); !errors.Is(err, jwtauth.ErrInvalidOption) {
		t.Error("nil source accepted")
	}
	smallRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	for _, k := range []jwtauth.Key{
		{ID: "a", Algorithm: jwtauth.HS256, Key: []byte("short")},
		{ID: "b", Algorithm: jwtauth.RS256, Key: &smallRSA.PublicKey},
		{ID: "c", Algorithm: jwtauth.RS256, Key: hsSecret},
		{ID: "d", Algorithm: jwtauth.ES256, Key: edPub},
		{ID: "e", Algorithm: "none"},
	} {
		if _, err := jwtauth.StaticKeys(k); !errors.Is(err, jwtauth.ErrInvalidOption) {
			t.Errorf("StaticKeys(%s) error = %v", k.ID, err)
		}
	}
	if _, err := jwtauth.StaticKeys(allKeys(t)[0], allKeys(t)[0]); !errors.Is(err, jwtauth.ErrInvalidOption) {
		t.Error("duplicate kid accepted")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwkJSON encodes public keys as a JWKS document.
func jwkJSON(keys ...jwtauth.Key) []byte {
	var out []map[string]string
	for _, k := range keys {
		switch pk := k.Key.(type) {
		case *rsa.PublicKey:
			out = append(out, map[string]string{"kty": "RSA", "kid": k.ID, "alg": "RS256", "use": "sig", "n": b64(pk.N.Bytes()), "e": b64(big.NewInt(int64(pk.E)).Bytes())})
		case *ecdsa.PublicKey:
			x, y := make([]byte, 32), make([]byte, 32)
			raw := must(pk.Bytes())
			copy(x, raw[1:33])
			copy(y, raw[33:])
			out = append(out, map[string]string{"kty": "EC", "kid": k.ID, "crv": "P-256", "x": b64(x), "y": b64(y)})
		case ed25519.PublicKey:
			out = append(out, map[string]string{"kty": "OKP", "kid": k.ID, "crv": "Ed25519", "x": b64(pk)})
		}
	}
	b, _ := json.Marshal(map[string]any{"keys": out})
	return b
}

// malleate changes the unused low bits of the last base64url character of
// the token's signature: a non-canonical spelling of the same bytes.
func malleate(t testing.TB, token string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	sig := token[strings.LastIndexByte(token, '.')+1:]
	unused := map[int]int{2: 4, 3: 2}[len(sig)%4]
	if unused == 0 {
		t.Fatalf("signature of %d characters has no unused bits", len(sig))
	}
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	out := token[:len(token)-1] + string(alphabet[last^1])
	a, _ := base64.RawURLEncoding.DecodeString(sig)
	b, err := base64.RawURLEncoding.DecodeString(out[strings.LastIndexByte(out, '.')+1:])
	if err != nil || string(a) != string(b) {
		t.Fatalf("not the same signature bytes: %v", err)
	}
	return out
}

// TestNonCanonicalSignatureRejected: a valid token whose signature's last
// character is changed in its unused bits (the same signature bytes in a
// non-canonical encoding) is rejected, for every algorithm, so that
// signatures are not malleable.
func TestNonCanonicalSignatureRejected(t *testing.T) {
	src, err := jwtauth.StaticKeys(allKeys(t)...)
	if err != nil {
		t.Fatal(err)
	}
	a := newAuth(t, src)
	for _, tt := range []struct {
		name string
		m    jwt.SigningMethod
		kid  string
		key  any
	}{
		{"HS256", jwt.SigningMethodHS256, "hs", hsSecret},
		{"RS256", jwt.SigningMethodRS256, "rs", rsaKey},
		{"ES256", jwt.SigningMethodES256, "es", ecKey},
		{"EdDSA", jwt.SigningMethodEdDSA, "ed", edKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			atNow(t, func(t *testing.T) {
				good := sign(t, tt.m, tt.kid, tt.key, claims(nil))
				if _, err := a.Verify(context.Background(), good); err != nil {
					t.Fatalf("the canonical token: %v", err)
				}
				if _, err := a.Verify(context.Background(), malleate(t, good)); !errors.Is(err, jwtauth.ErrInvalidToken) {
					t.Fatalf("the malleated token: %v, want ErrInvalidToken", err)
				}
			})
		})
	}
}
