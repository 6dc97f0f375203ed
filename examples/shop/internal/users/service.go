package users

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"time"

	"github.com/go-microkit/microkit/examples/shop/internal/platform"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
)

// Token claims the gateway checks.
const (
	Issuer   = "microkit-shop"
	Audience = "shop-api"
	// RoleClaim is the claim that carries a user's role; only the users
	// of Config.Admins have one (platform.RoleAdmin), customers have none.
	RoleClaim = "role"
)

// Config configures the user-service.
type Config struct {
	// DSN is its database: a SQLite path or a postgres:// URL. Required.
	DSN string
	// Addr is where it listens; zero means a free loopback port.
	Addr string
	// TokenTTL is how long a token lives; zero means 15 minutes.
	TokenTTL time.Duration
	// BcryptCost is the hashing cost; zero means bcrypt.DefaultCost.
	BcryptCost int
	// Seed are users created at start when missing.
	Seed []Credentials
	// Admins are users created at start when missing, with the role
	// platform.RoleAdmin in their tokens. An existing account with one of
	// these emails gets the role only if its password is the one given
	// here, so that a customer who signed up with that email first does
	// not become an administrator.
	Admins []Credentials
}

// Credentials are an email and a password.
type Credentials struct {
	// Email is the login name, a plain address.
	Email string `json:"email"`
	// Password has 8 to 72 bytes.
	Password string `json:"password"`
}

// User is a registered user, without its password hash.
type User struct {
	// ID is the user id, the tokens' subject.
	ID string `json:"id"`
	// Email is the login name, a plain address.
	Email string `json:"email"`
}

// Token is what login returns.
type Token struct {
	// Token is the signed JWT.
	Token string `json:"token"`
	// TokenType is "Bearer".
	TokenType string `json:"token_type"`
	// ExpiresAt is when the token stops being accepted.
	ExpiresAt time.Time `json:"expires_at"`
	// UserID is the token's subject.
	UserID string `json:"user_id"`
	// Role is the token's role claim: "admin" for the seeded
	// administrators, empty for customers.
	Role string `json:"role,omitempty"`
}

var schema = []string{
	`CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE,
		password_hash TEXT NOT NULL, created_at BIGINT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS signing_keys (kid TEXT PRIMARY KEY, seed TEXT NOT NULL)`,
	// Roles live apart from users, so that no sign-up path can set one.
	`CREATE TABLE IF NOT EXISTS user_roles (user_id TEXT PRIMARY KEY, role TEXT NOT NULL)`,
}

// errEmailTaken is returned by signUp for a known email. It never reaches
// a client: see SignUpAnswer.
var errEmailTaken = errors.New("users: email already registered")

// SignUpAnswer is the answer (202 Accepted) to every valid sign-up, whether
// its email was new or already registered, so that sign-up does not tell
// which emails have accounts. A new email gets its account; a registered
// one keeps its account and password, untouched. Both run the same work
// (hashing the password dominates), so they also take about as long. A
// shop that sends email would write to the address here: a welcome, or a
// note that someone tried to sign up with it.
type SignUpAnswer struct {
	// Status is "accepted".
	Status string `json:"status"`
	// Message tells the client what to do next.
	Message string `json:"message"`
}

var signUpAnswer = SignUpAnswer{Status: "accepted",
	Message: "if this email was not registered, its account is ready: log in with this email and password"}

// Service is a running user-service. Close stops it.
type Service struct {
	cfg   Config
	base  *platform.Base
	db    *platform.DB
	key   signingKey
	dummy []byte
	// compare checks a password against a hash; tests count its calls.
	compare func(hash, password []byte) error
	srv     *platform.Server
}

// New opens the database, loads (or makes) the signing key, creates the
// seed users and starts the service, registered as user-service.
func New(ctx context.Context, deps *platform.Deps, cfg Config) (_ *Service, err error) {
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = 15 * time.Minute
	}
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = bcrypt.DefaultCost
	}
	b, err := platform.NewBase(ctx, deps, platform.UserService, cfg.DSN, cfg.Addr, schema...)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.Close(context.WithoutCancel(ctx)))
		}
	}()
	s := &Service{cfg: cfg, base: b, db: b.DB, srv: b.Server, compare: bcrypt.CompareHashAndPassword}
	if s.key, err = loadOrCreateKey(ctx, s.db); err != nil {
		return nil, err
	}
	// A hash to compare against for unknown emails, so that login takes as
	// long for them as for known ones.
	if s.dummy, err = bcrypt.GenerateFromPassword([]byte("no such user"), cfg.BcryptCost); err != nil {
		return nil, fmt.Errorf("users: hash: %w", err)
	}
	for _, c := range cfg.Seed {
		if _, err := s.signUp(ctx, c); err != nil && !errors.Is(err, errEmailTaken) {
			return nil, err
		}
	}
	for _, c := range cfg.Admins {
		if err := s.seedAdmin(ctx, c); err != nil {
			return nil, err
		}
	}
	s.routes()
	if err := b.Serve(ctx, deps, platform.UserService); err != nil {
		return nil, err
	}
	return s, nil
}

// URL returns the base URL of the HTTP server.
func (s *Service) URL() string { return s.base.URL() }

// Close deregisters the service, stops its server and closes its database.
// It is idempotent.
func (s *Service) Close(ctx context.Context) error { return s.base.Close(ctx) }

func (s *Service) signUp(ctx context.Context, c Credentials) (User, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(c.Password), s.cfg.BcryptCost)
	if err != nil {
		return User{}, fmt.Errorf("users: hash: %w", err)
	}
	idb := make([]byte, 8)
	_, _ = rand.Read(idb)
	u := User{ID: "u-" + hex.EncodeToString(idb), Email: c.Email}
	res, err := s.db.Exec(ctx, `INSERT INTO users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (email) DO NOTHING`, u.ID, u.Email, string(hash), time.Now().UnixNano())
	if err != nil {
		return User{}, fmt.Errorf("users: sign up: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return User{}, errEmailTaken
	}
	return u, nil
}

// seedAdmin creates the administrator c when missing and grants it
// platform.RoleAdmin, provided the account's password is c's.
func (s *Service) seedAdmin(ctx context.Context, c Credentials) error {
	if _, err := s.signUp(ctx, c); err != nil && !errors.Is(err, errEmailTaken) {
		return err
	}
	var id, hash string
	if err := s.db.QueryRow(ctx, `SELECT id, password_hash FROM users WHERE email = ?`, c.Email).Scan(&id, &hash); err != nil {
		return fmt.Errorf("users: seed admin %s: %w", c.Email, err)
	}
	if s.compare([]byte(hash), []byte(c.Password)) != nil {
		return fmt.Errorf("users: seed admin %s: the account exists with another password; not granting it the admin role", c.Email)
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO user_roles (user_id, role) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING`,
		id, platform.RoleAdmin); err != nil {
		return fmt.Errorf("users: seed admin %s: %w", c.Email, err)
	}
	return nil
}

// errBadLogin is the one answer to a wrong email and a wrong password, so
// that login does not tell which emails exist.
var errBadLogin = errors.New("users: wrong email or password")

// login checks c and signs a token. An unknown email and a wrong password
// do the same work, one bcrypt comparison at the configured cost (against
// a dummy hash for an unknown email), so that neither the answer nor its
// time tells them apart. A hash made at another cost (before the cost was
// changed) is remade at the configured one on the next successful login,
// so that its account stops standing out.
func (s *Service) login(ctx context.Context, c Credentials) (Token, error) {
	var id, hash string
	var role sql.NullString
	err := s.db.QueryRow(ctx, `SELECT u.id, u.password_hash, r.role FROM users u
		LEFT JOIN user_roles r ON r.user_id = u.id WHERE u.email = ?`, c.Email).Scan(&id, &hash, &role)
	if errors.Is(err, sql.ErrNoRows) {
		_ = s.compare(s.dummy, []byte(c.Password))
		return Token{}, errBadLogin
	}
	if err != nil {
		return Token{}, fmt.Errorf("users: login: %w", err)
	}
	if s.compare([]byte(hash), []byte(c.Password)) != nil {
		return Token{}, errBadLogin
	}
	if cost, err := bcrypt.Cost([]byte(hash)); err == nil && cost != s.cfg.BcryptCost {
		if err := s.rehash(ctx, id, c.Password); err != nil {
			return Token{}, err
		}
	}
	now := time.Now()
	exp := now.Add(s.cfg.TokenTTL)
	claims := jwt.MapClaims{
		"sub": id, "iss": Issuer, "aud": Audience, "email": c.Email,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(),
	}
	if role.String != "" {
		claims[RoleClaim] = role.String
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = s.key.id
	signed, err := t.SignedString(s.key.priv)
	if err != nil {
		return Token{}, fmt.Errorf("users: sign: %w", err)
	}
	return Token{Token: signed, TokenType: "Bearer", ExpiresAt: exp.UTC().Truncate(time.Second), UserID: id, Role: role.String}, nil
}

// rehash stores password's hash at the configured cost for user id.
func (s *Service) rehash(ctx context.Context, id, password string) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cfg.BcryptCost)
	if err != nil {
		return fmt.Errorf("users: hash: %w", err)
	}
	if _, err := s.db.Exec(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, string(hash), id); err != nil {
		return fmt.Errorf("users: rehash %s: %w", id, err)
	}
	return nil
}

func validCredentials(c Credentials) error {
	if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email {
		return errors.New("email must be a plain address such as ada@example.com")
	}
	if len(c.Password) < 8 || len(c.Password) > 72 {
		return errors.New("password must have 8 to 72 bytes")
	}
	return nil
}

func (s *Service) routes() {
	s.srv.HandleFunc("POST /users/signup", func(w http.ResponseWriter, r *http.Request) {
		var c Credentials
		if !platform.ReadJSON(w, r, &c) {
			return
		}
		if err := validCredentials(c); err != nil {
			platform.WriteError(w, r, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		// A registered email is answered like a new one: see SignUpAnswer.
		if _, err := s.signUp(r.Context(), c); err != nil && !errors.Is(err, errEmailTaken) {
			platform.WriteInternal(w, r, err)
			return
		}
		platform.WriteJSON(w, http.StatusAccepted, signUpAnswer)
	})
	s.srv.HandleFunc("POST /users/login", func(w http.ResponseWriter, r *http.Request) {
		var c Credentials
		if !platform.ReadJSON(w, r, &c) {
			return
		}
		t, err := s.login(r.Context(), c)
		switch {
		case errors.Is(err, errBadLogin):
			platform.WriteError(w, r, http.StatusUnauthorized, "bad_credentials", "wrong email or password")
		case err != nil:
			platform.WriteInternal(w, r, err)
		default:
			platform.WriteJSON(w, http.StatusOK, t)
		}
	})
	s.srv.HandleFunc("GET /users/me", func(w http.ResponseWriter, r *http.Request) {
		sub := platform.Subject(r)
		if sub == "" {
			platform.WriteError(w, r, http.StatusUnauthorized, "unauthenticated", "no authenticated user")
			return
		}
		var u User
		err := s.db.QueryRow(r.Context(), `SELECT id, email FROM users WHERE id = ?`, sub).Scan(&u.ID, &u.Email)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			platform.WriteError(w, r, http.StatusNotFound, "not_found", "no such user")
		case err != nil:
			platform.WriteInternal(w, r, err)
		default:
			platform.WriteJSON(w, http.StatusOK, u)
		}
	})
	s.srv.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		platform.WriteJSON(w, http.StatusOK, s.key.jwks())
	})
}
