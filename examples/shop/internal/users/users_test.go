package users

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
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
// the gateway's own parser and verifier, until they expire; the key
// survives a restart. The test runs in a synctest bubble, so that the
// token's minute passes at once.
func TestLoginTokenVerifiesWithPublishedJWKS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "users.db")
		open := func() *Service { return openService(t, path) }
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
		auth, err := jwtauth.New(src, jwtauth.WithIssuer(Issuer), jwtauth.WithAudience(Audience))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Second)
		claims, err := auth.Verify(ctx, tok.Token)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if claims.Subject != tok.UserID {
			t.Errorf("subject %q, want %q", claims.Subject, tok.UserID)
		}
		time.Sleep(90 * time.Second) // two minutes after login, past the token's minute
		expired, err := jwtauth.New(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := expired.Verify(ctx, tok.Token); err == nil {
			t.Error("an expired token verified")
		}
	})
}

// openService opens (or reopens) the user database at path as a Service
// whose tokens last a minute, without its HTTP server.
func openService(t *testing.T, path string) *Service {
	t.Helper()
	ctx := context.Background()
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
	dummy, err := bcrypt.GenerateFromPassword([]byte("no such user"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return &Service{db: db, key: key, dummy: dummy, compare: bcrypt.CompareHashAndPassword,
		cfg: Config{TokenTTL: time.Minute, BcryptCost: bcrypt.MinCost}}
}

// Only the configured administrators get the admin role, in their signed
// token; a customer who signed up with an administrator's email first,
// with another password, does not get it, and the service refuses to
// start rather than leave the shop without the administrator it was told
// of.
func TestAdminRoleIsSignedIntoAdminTokensOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) { // no token can expire while the test works
		ctx := context.Background()
		s := openService(t, filepath.Join(t.TempDir(), "users.db"))
		src, err := jwtauth.StaticKeys(jwtauth.Key{ID: s.key.id, Algorithm: jwtauth.EdDSA, Key: s.key.priv.Public()})
		if err != nil {
			t.Fatal(err)
		}
		auth, err := jwtauth.New(src)
		if err != nil {
			t.Fatal(err)
		}
		role := func(c Credentials) string {
			t.Helper()
			tok, err := s.login(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			claims, err := auth.Verify(ctx, tok.Token)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := claims.All[RoleClaim].(string)
			if r != tok.Role {
				t.Errorf("token claim %q, answer's role %q", r, tok.Role)
			}
			return r
		}

		admin := Credentials{"admin@example.com", "admin-password"}
		customer := Credentials{"ada@example.com", "correct horse"}
		if _, err := s.signUp(ctx, customer); err != nil {
			t.Fatal(err)
		}
		for range 2 { // seeding again is a no-op
			if err := s.seedAdmin(ctx, admin); err != nil {
				t.Fatal(err)
			}
		}
		if got := role(admin); got != platform.RoleAdmin {
			t.Errorf("admin's role %q, want %q", got, platform.RoleAdmin)
		}
		if got := role(customer); got != "" {
			t.Errorf("customer's role %q, want none", got)
		}

		squatter := Credentials{"boss@example.com", "squatter-password"}
		if _, err := s.signUp(ctx, squatter); err != nil {
			t.Fatal(err)
		}
		if err := s.seedAdmin(ctx, Credentials{squatter.Email, "the-real-password"}); err == nil {
			t.Error("seeding an administrator over a customer's account with another password succeeded")
		}
		if got := role(squatter); got != "" {
			t.Errorf("the squatter's role %q, want none", got)
		}
	})
}

// An unknown email and a wrong password get the same error after the same
// work, one bcrypt comparison at the configured cost, so that neither the
// answer nor its time tells which emails have accounts; an account whose
// hash was made at an older cost gets it remade on its next successful
// login, after which it no longer stands out.
func TestLoginWorkDoesNotTellAccountsApart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users.db")
	old := openService(t, path)
	oldCost := Credentials{"old@example.com", "old-password"}
	if _, err := old.signUp(ctx, oldCost); err != nil {
		t.Fatal(err)
	}
	s := openService(t, path)
	s.cfg.BcryptCost = bcrypt.MinCost + 1
	var err error
	if s.dummy, err = bcrypt.GenerateFromPassword([]byte("no such user"), s.cfg.BcryptCost); err != nil {
		t.Fatal(err)
	}
	var costs []int
	s.compare = func(hash, password []byte) error {
		c, _ := bcrypt.Cost(hash)
		costs = append(costs, c)
		return bcrypt.CompareHashAndPassword(hash, password)
	}
	ada := Credentials{"ada@example.com", "correct horse"}
	if _, err := s.signUp(ctx, ada); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		c    Credentials
		ok   bool
	}{
		{"unknown email", Credentials{"bob@example.com", "correct horse"}, false},
		{"wrong password", Credentials{ada.Email, "wrong horse"}, false},
		{"right password", ada, true},
		{"password over 72 bytes", Credentials{ada.Email, string(make([]byte, 100))}, false},
		{"unknown email, password over 72 bytes", Credentials{"bob@example.com", string(make([]byte, 100))}, false},
		{"older hash, right password", oldCost, true},
		{"older hash remade, wrong password", Credentials{oldCost.Email, "wrong horse"}, false},
		{"older hash remade, right password", oldCost, true},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			costs = nil
			_, err := s.login(ctx, st.c)
			if st.ok != (err == nil) || !st.ok && !errors.Is(err, errBadLogin) {
				t.Fatalf("login = %v, want ok %v or errBadLogin", err, st.ok)
			}
			want := []int{s.cfg.BcryptCost}
			if st.name == "older hash, right password" {
				want = []int{bcrypt.MinCost} // the last time it stands out
			}
			if !slices.Equal(costs, want) {
				t.Fatalf("bcrypt comparisons at costs %v, want %v", costs, want)
			}
		})
	}
}
