package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/go-microkit/microkit/gateway"
)

// Claims are the verified claims of a token.
type Claims struct {
	// Subject is "sub", the user id.
	Subject string
	// Issuer is "iss".
	Issuer string
	// Audience is "aud".
	Audience []string
	// ExpiresAt is "exp"; zero when absent.
	ExpiresAt time.Time
	// NotBefore is "nbf"; zero when absent.
	NotBefore time.Time
	// IssuedAt is "iat"; zero when absent.
	IssuedAt time.Time
	// ID is "jti".
	ID string
	// All holds every claim, registered or not, as decoded from JSON.
	All map[string]any
}

// Authenticator verifies bearer JWTs. Build it with New; it is safe for
// concurrent use.
type Authenticator struct {
	keys          KeySource
	algs          []string
	issuer        string
	audience      []string
	leeway        time.Duration
	subjectHeader string
	realm         string
	optional      bool
	cache         *tokenCache // nil: no cache
}

// Option configures New.
type Option func(*Authenticator) error

// WithAlgorithms pins the accepted algorithms to a subset of HS256, RS256,
// ES256 and EdDSA; the default accepts all four, each only with a key of
// its own kind (see Key). "none" is never accepted.
func WithAlgorithms(algs ...string) Option {
	return func(a *Authenticator) error {
		if len(algs) == 0 {
			return fmt.Errorf("%w: no algorithms", ErrInvalidOption)
		}
		for _, alg := range algs {
			if !slices.Contains([]string{HS256, RS256, ES256, EdDSA}, alg) {
				return fmt.Errorf("%w: algorithm %q not supported", ErrInvalidOption, alg)
			}
		}
		a.algs = slices.Clone(algs)
		return nil
	}
}

// WithIssuer requires the "iss" claim to equal iss; the default does not
// check the issuer.
func WithIssuer(iss string) Option {
	return func(a *Authenticator) error {
		if iss == "" {
			return fmt.Errorf("%w: empty issuer", ErrInvalidOption)
		}
		a.issuer = iss
		return nil
	}
}

// WithAudience requires the "aud" claim to contain one of aud; the default
// does not check the audience.
func WithAudience(aud ...string) Option {
	return func(a *Authenticator) error {
		if len(aud) == 0 || slices.Contains(aud, "") {
			return fmt.Errorf("%w: empty audience", ErrInvalidOption)
		}
		a.audience = slices.Clone(aud)
		return nil
	}
}

// WithLeeway tolerates clock skew of d on "exp", "nbf" and "iat"; the
// default is zero.
func WithLeeway(d time.Duration) Option {
	return func(a *Authenticator) error {
		if d < 0 || d > 10*time.Minute {
			return fmt.Errorf("%w: leeway %v (want 0..10m)", ErrInvalidOption, d)
		}
		a.leeway = d
		return nil
	}
}

// WithSubjectHeader sets the request header that carries the verified
// subject upstream; the default is gateway.DefaultSubjectHeader. The
// middleware deletes it from every incoming request before anything else;
// a header other than the default must also be given to
// gateway.WithStripHeaders so that routes without this middleware strip it
// too.
func WithSubjectHeader(name string) Option {
	return func(a *Authenticator) error {
		if name == "" {
			return fmt.Errorf("%w: empty subject header", ErrInvalidOption)
		}
		a.subjectHeader = http.CanonicalHeaderKey(name)
		return nil
	}
}

// WithRealm sets the realm named in WWW-Authenticate; the default is
// "api".
func WithRealm(realm string) Option {
	return func(a *Authenticator) error {
		if strings.ContainsAny(realm, "\"\\\r\n") {
			return fmt.Errorf("%w: realm %q", ErrInvalidOption, realm)
		}
		a.realm = realm
		return nil
	}
}

// WithOptional lets requests without a token through anonymously (no
// subject); a token that is present must still be valid. The default
// requires a token.
func WithOptional() Option {
	return func(a *Authenticator) error {
		a.optional = true
		return nil
	}
}

// New returns an Authenticator that verifies tokens with keys. Tokens must
// carry "exp". The error wraps ErrInvalidOption.
func New(keys KeySource, opts ...Option) (*Authenticator, error) {
	if keys == nil {
		return nil, fmt.Errorf("%w: nil key source", ErrInvalidOption)
	}
	a := &Authenticator{keys: keys, algs: []string{HS256, RS256, ES256, EdDSA},
		subjectHeader: gateway.DefaultSubjectHeader, realm: "api", cache: &tokenCache{max: 10_000, ttl: time.Minute}}
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		if err := o(a); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Verify checks a compact JWT and returns its claims. Every failure wraps
// ErrInvalidToken. The returned claims are shared: do not modify them.
func (a *Authenticator) Verify(ctx context.Context, token string) (*Claims, error) {
	if a.cache == nil {
		return a.verify(ctx, token)
	}
	now := time.Now()
	if c, ok := a.cache.get(token, now); ok {
		return c, nil
	}
	c, err := a.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	a.cache.put(token, c, now, a.leeway)
	return c, nil
}

func (a *Authenticator) verify(ctx context.Context, token string) (*Claims, error) {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(a.algs),
		jwt.WithLeeway(a.leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		// Only the canonical base64url form: otherwise the unused bits
		// of a segment's last character could be changed and the token
		// would still verify (a malleable signature).
		jwt.WithStrictDecoding(),
	}
	if a.issuer != "" {
		opts = append(opts, jwt.WithIssuer(a.issuer))
	}
	if len(a.audience) > 0 {
		opts = append(opts, jwt.WithAudience(a.audience...))
	}
	mc := jwt.MapClaims{}
	_, err := jwt.NewParser(opts...).ParseWithClaims(token, mc, func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			// RFC 7515 4.1.11: extensions we do not understand must fail.
			return nil, errors.New("critical header extensions are not supported")
		}
		kid, _ := t.Header["kid"].(string)
		k, err := a.keys.Key(ctx, kid)
		if err != nil {
			return nil, err
		}
		// The key, not the token, decides the algorithm.
		if t.Method.Alg() != k.Algorithm {
			return nil, fmt.Errorf("token algorithm %q does not match key %q (%s)", t.Method.Alg(), k.ID, k.Algorithm)
		}
		return k.Key, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return claimsFrom(mc)
}

func claimsFrom(mc jwt.MapClaims) (*Claims, error) {
	c := &Claims{All: mc}
	var err error
	get := func(f func() (*jwt.NumericDate, error)) time.Time {
		d, e := f()
		if e != nil {
			err = e
		}
		if d == nil {
			return time.Time{}
		}
		return d.Time
	}
	c.ExpiresAt = get(mc.GetExpirationTime)
	c.NotBefore = get(mc.GetNotBefore)
	c.IssuedAt = get(mc.GetIssuedAt)
	var e1, e2, e3 error
	c.Subject, e1 = mc.GetSubject()
	c.Issuer, e2 = mc.GetIssuer()
	aud, e3 := mc.GetAudience()
	c.Audience = aud
	c.ID, _ = mc["jti"].(string)
	if err = errors.Join(err, e1, e2, e3); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if c.Subject == "" {
		return nil, fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	return c, nil
}

type claimsKey struct{}

// ClaimsFromContext returns the verified claims the middleware stored, or nil.
func ClaimsFromContext(ctx context.Context) *Claims {
	c, _ := ctx.Value(claimsKey{}).(*Claims)
	return c
}

// Middleware verifies the request's bearer token. It first deletes the
// subject header from the request, whatever happens next. On success it
// sets the subject header for the upstream, the claims (ClaimsFromContext) and
// the subject (gateway.SubjectFromContext) in the context. On failure it answers
// 401 with a WWW-Authenticate: Bearer challenge and a JSON error; the
// reason is generic so that it tells an attacker little.
func (a *Authenticator) Middleware() gateway.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			gateway.StripHeader(r.Header, a.subjectHeader)
			token, ok := bearer(r)
			if !ok {
				if a.optional && r.Header.Get("Authorization") == "" {
					next.ServeHTTP(w, r)
					return
				}
				a.challenge(w, r, "", "bearer token required")
				return
			}
			c, err := a.Verify(r.Context(), token)
			if err != nil {
				a.challenge(w, r, "invalid_token", "invalid or expired token")
				return
			}
			r.Header.Set(a.subjectHeader, c.Subject)
			unlistConnection(r.Header, a.subjectHeader)
			ctx := gateway.ContextWithSubject(context.WithValue(r.Context(), claimsKey{}, c), c.Subject)
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// unlistConnection removes name from the Connection header, where a client
// could list it to make the proxy drop the subject header as hop-by-hop.
func unlistConnection(h http.Header, name string) {
	values := h.Values("Connection")
	if len(values) == 0 {
		return
	}
	var kept []string
	for _, v := range values {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" && !strings.EqualFold(tok, name) {
				kept = append(kept, tok)
			}
		}
	}
	if len(kept) == 0 {
		h.Del("Connection")
		return
	}
	h.Set("Connection", strings.Join(kept, ", "))
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func (a *Authenticator) challenge(w http.ResponseWriter, r *http.Request, code, msg string) {
	v := `Bearer realm="` + a.realm + `"`
	if code != "" {
		v += `, error="` + code + `", error_description="` + msg + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	gateway.WriteError(w, r, http.StatusUnauthorized, gateway.CodeUnauthorized, msg)
}
