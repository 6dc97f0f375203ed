package jwtauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/go-microkit/microkit/gateway/jwtauth"
)

func BenchmarkVerify(b *testing.B) {
	src, _ := jwtauth.StaticKeys(allKeys(b)...)
	// A benchmark runs on the real clock, not in a bubble at now: its
	// tokens are issued for the time it runs.
	live := claims(func(c jwt.MapClaims) {
		c["iat"], c["exp"] = time.Now().Unix(), time.Now().Add(time.Hour).Unix()
	})
	tokens := map[string]string{
		"HS256": sign(b, jwt.SigningMethodHS256, "hs", hsSecret, live),
		"ES256": sign(b, jwt.SigningMethodES256, "es", ecKey, live),
	}
	for _, cached := range []bool{false, true} {
		for alg, tok := range tokens {
			name := alg + "/uncached"
			opt := jwtauth.WithCache(0, 0)
			if cached {
				name = alg + "/cached"
				opt = jwtauth.WithCache(1000, time.Minute)
			}
			b.Run(name, func(b *testing.B) {
				a := newAuth(b, src, opt)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := a.Verify(ctx, tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
