package jwtauth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/go-microkit/microkit/gateway/jwtauth"
)

// TestCacheRechecksExpiry: a cached token is still rejected once expired.
func TestCacheRechecksExpiry(t *testing.T) {
	atNow(t, func(t *testing.T) {
		src, _ := jwtauth.StaticKeys(allKeys(t)...)
		a := newAuth(t, src, jwtauth.WithLeeway(0), jwtauth.WithCache(10, time.Hour))
		tok := sign(t, jwt.SigningMethodHS256, "hs", hsSecret, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(time.Minute).Unix() }))
		for range 2 {
			if _, err := a.Verify(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Minute)
		if _, err := a.Verify(context.Background(), tok); !errors.Is(err, jwtauth.ErrInvalidToken) {
			t.Fatalf("expired cached token: %v", err)
		}
	})
}

// TestCacheTTLBoundsKeyWithdrawal: after a key leaves the JWKS, tokens it
// signed stay accepted at most the cache TTL.
func TestCacheTTLBoundsKeyWithdrawal(t *testing.T) {
	atNow(t, func(t *testing.T) {
		testKeys(t)
		k1 := jwtauth.Key{ID: "k1", Algorithm: jwtauth.ES256, Key: &ecKey.PublicKey}
		k2 := jwtauth.Key{ID: "k2", Algorithm: jwtauth.EdDSA, Key: edPub}
		p := newIDP(k1)
		jwks := p.jwks(t, jwtauth.WithMaxAge(30*time.Second), jwtauth.WithMinRefreshInterval(time.Second))
		a := newAuth(t, jwks, jwtauth.WithCache(100, time.Minute))
		tok := sign(t, jwt.SigningMethodES256, "k1", ecKey, claims(nil))
		if _, err := a.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		p.set(200, k2) // k1 withdrawn
		time.Sleep(40 * time.Second)
		if _, err := a.Verify(context.Background(), tok); err != nil {
			t.Fatalf("within the cache TTL: %v", err)
		}
		time.Sleep(21 * time.Second)
		if _, err := a.Verify(context.Background(), tok); !errors.Is(err, jwtauth.ErrInvalidToken) {
			t.Fatalf("past the cache TTL a withdrawn key must fail: %v", err)
		}
	})
}

func TestCacheFullAndOff(t *testing.T) {
	atNow(t, func(t *testing.T) {
		src, _ := jwtauth.StaticKeys(allKeys(t)...)
		for _, opt := range []jwtauth.Option{jwtauth.WithCache(2, time.Minute), jwtauth.WithCache(0, 0)} {
			a := newAuth(t, src, opt)
			for i := range 5 {
				tok := sign(t, jwt.SigningMethodHS256, "hs", hsSecret, claims(func(c jwt.MapClaims) { c["jti"] = string(rune('a' + i)) }))
				for range 2 {
					c, err := a.Verify(context.Background(), tok)
					if err != nil || c.ID != string(rune('a'+i)) {
						t.Fatalf("token %d: %+v %v", i, c, err)
					}
				}
			}
		}
		for _, bad := range []jwtauth.Option{jwtauth.WithCache(-1, time.Minute), jwtauth.WithCache(1, 0), jwtauth.WithCache(0, time.Second)} {
			if _, err := jwtauth.New(src, bad); !errors.Is(err, jwtauth.ErrInvalidOption) {
				t.Errorf("cache option error %v", err)
			}
		}
	})
}
