package users

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/go-microkit/microkit/gateway/jwtauth"
	"golang.org/x/crypto/bcrypt"
)

func TestValidCredentials(t *testing.T) {
	tests := []struct {
		c  Credentials
		ok bool
	}{
		{Credentials{"ada@example.com", "correct horse"}, true},
		{Credentials{"Ada <ada@example.com>", "correct horse"}, false},
		{Credentials{"not an email", "correct horse"}, false},
		{Credentials{"ada@example.com", "short"}, false},
		{Credentials{"ada@example.com", string(make([]byte, 73))}, false},
	}
	for _, tt := range tests {
		if err := validCredentials(tt.c); (err == nil) != tt.ok {
			t.Errorf("validCredentials(%q, %d bytes) = %v, want ok %v", tt.c.Email, len(tt.c.Password), err, tt.ok)
		}
	}
}

// The tokens login signs verify with the keys the JWKS publishes, through
// the gateway's own parser and verifier; the key survives a restart.
func TestLoginTokenVerifiesWithPublishedJWKS(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users.db")
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	open := func() *Service {
		db, err := platform.OpenDB(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx, schema...); err != nil {
			t.Fatal(err)
		}
		key, err := loadOrCreateKey(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		return &Service{db: db, key: key, dummy: []byte("x"),
			cfg: Config{TokenTTL: time.Minute, BcryptCost: bcrypt.MinCost, Now: func() time.Time { return now }}}
	}
	s := open()
	if _, err := s.signUp(ctx, Credentials{"ada@example.com", "correct horse"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.signUp(ctx, Credentials{"ada@example.com", "other one"}); !errors.Is(err, errEmailTaken) {
		t.Fatalf("second sign-up = %v, want errEmailTaken", err)
	}
	if _, err := s.login(ctx, Credentials{"ada@example.com", "wrong horse"}); !errors.Is(err, errBadLogin) {
		t.Fatalf("wrong password = %v, want errBadLogin", err)
	}
	if _, err := s.login(ctx, Credentials{"bob@example.com", "correct horse"}); !errors.Is(err, errBadLogin) {
		t.Fatalf("unknown email = %v, want errBadLogin", err)
	}
	tok, err := s.login(ctx, Credentials{"ada@example.com", "correct horse"})
	if err != nil {
		t.Fatal(err)
	}

	restarted := open()
	raw, _ := json.Marshal(restarted.key.jwks())
	keys, err := jwtauth.ParseJWKS(raw)
	if err != nil || len(keys) != 1 {
		t.Fatalf("ParseJWKS(%s) = %v, %v", raw, keys, err)
	}
	src, err := jwtauth.StaticKeys(keys...)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := jwtauth.New(src, jwtauth.WithIssuer(Issuer), jwtauth.WithAudience(Audience),
		jwtauth.WithClock(fixedClock(now.Add(30*time.Second))))
	if err != nil {
		t.Fatal(err)
	}
	claims, err := auth.Verify(ctx, tok.Token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if claims.Subject != tok.UserID {
		t.Errorf("subject %q, want %q", claims.Subject, tok.UserID)
	}
	expired, err := jwtauth.New(src, jwtauth.WithClock(fixedClock(now.Add(2*time.Minute))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := expired.Verify(ctx, tok.Token); err == nil {
		t.Error("an expired token verified")
	}
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }
