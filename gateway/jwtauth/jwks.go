package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS parses a JSON Web Key Set (RFC 7517) into verification keys.
// It takes the public keys it can use for signatures: RSA (RS256), EC on
// P-256 (ES256) and OKP Ed25519 (EdDSA); a key's "alg", when present, must
// match. Symmetric ("oct") keys, encryption keys and other kinds are
// skipped. Malformed keys are skipped too and reported in the error, which
// is non-nil also when some keys were returned; invalid JSON returns no
// keys.
func ParseJWKS(data []byte) ([]Key, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("jwtauth: parse JWKS: %w", err)
	}
	var keys []Key
	var errs []error
	for i, raw := range set.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			errs = append(errs, fmt.Errorf("key %d: %w", i, err))
			continue
		}
		if j.Use != "" && j.Use != "sig" {
			continue
		}
		k, err := j.key()
		if err != nil {
			errs = append(errs, fmt.Errorf("key %d (%q): %w", i, j.Kid, err))
			continue
		}
		if k.Algorithm == "" {
			continue // a kind we do not verify with
		}
		if err := k.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		keys = append(keys, k)
	}
	if len(errs) > 0 {
		return keys, fmt.Errorf("jwtauth: parse JWKS: %w", errors.Join(errs...))
	}
	return keys, nil
}

func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func (j jwk) key() (Key, error) {
	want := func(alg string) error {
		if j.Alg != "" && j.Alg != alg {
			return fmt.Errorf("alg %q does not fit kty %q", j.Alg, j.Kty)
		}
		return nil
	}
	switch j.Kty {
	case "RSA":
		if err := want(RS256); err != nil {
			return Key{}, err
		}
		n, err1 := b64(j.N)
		e, err2 := b64(j.E)
		if err := errors.Join(err1, err2); err != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return Key{}, errors.New("bad RSA modulus or exponent")
		}
		exp := int(new(big.Int).SetBytes(e).Int64())
		if exp < 3 || exp%2 == 0 {
			return Key{}, errors.New("bad RSA exponent")
		}
		return Key{ID: j.Kid, Algorithm: RS256, Key: &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}}, nil
	case "EC":
		if j.Crv != "P-256" {
			return Key{}, nil
		}
		if err := want(ES256); err != nil {
			return Key{}, err
		}
		x, err1 := b64(j.X)
		y, err2 := b64(j.Y)
		if err := errors.Join(err1, err2); err != nil || len(x) != 32 || len(y) != 32 {
			return Key{}, errors.New("bad EC coordinates")
		}
		// Checking the point through the uncompressed encoding rejects
		// points off the curve (invalid-curve attacks).
		raw := append(append([]byte{4}, x...), y...)
		pk, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
		if err != nil {
			return Key{}, errors.New("EC point not on P-256")
		}
		return Key{ID: j.Kid, Algorithm: ES256, Key: pk}, nil
	case "OKP":
		if j.Crv != "Ed25519" {
			return Key{}, nil
		}
		if err := want(EdDSA); err != nil {
			return Key{}, err
		}
		x, err := b64(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return Key{}, errors.New("bad Ed25519 key")
		}
		return Key{ID: j.Kid, Algorithm: EdDSA, Key: ed25519.PublicKey(x)}, nil
	}
	return Key{}, nil
}

// fetchTimeout bounds a fetch, whatever the HTTP client's timeout.
const fetchTimeout = 10 * time.Second

// JWKS is a KeySource backed by a JWKS URL. Keys are fetched on first use
// and cached; a token with an unknown kid triggers a refetch (a key
// rotation), but at most once per MinRefreshInterval, so that a flood of
// tokens with made-up kids cannot hammer the identity provider. The set is
// also refetched when older than MaxAge; while that refetch is under way,
// other requests whose kid the stale set holds go on with it instead of
// waiting for the provider. Fetches happen on the request path under a
// lock, one at a time, with no goroutine of their own; a fetch is not
// canceled with the request that started it (it is bounded by
// fetchTimeout and the HTTP client's timeout), so that a client that hangs
// up at once cannot spend the refresh interval on a fetch that never
// completes. It is safe for concurrent use.
type JWKS struct {
	url        string
	client     *http.Client
	minRefresh time.Duration
	maxAge     time.Duration
	logger     *slog.Logger

	fetchMu sync.Mutex // one fetch at a time
	mu      sync.Mutex // guards the fields below
	byID    map[string]Key
	only    *Key
	fetched time.Time // last successful fetch
	tried   time.Time // last attempt
	fetches int
}

// JWKSOption configures NewJWKS.
type JWKSOption func(*JWKS) error

// WithHTTPClient sets the client for fetching the set; the default (and
// what nil means) has a 10 s timeout.
func WithHTTPClient(c *http.Client) JWKSOption {
	return func(j *JWKS) error {
		if c == nil {
			c = &http.Client{Timeout: 10 * time.Second}
		}
		j.client = c
		return nil
	}
}

// WithMinRefreshInterval sets the least time between two fetches; the
// default is one minute.
func WithMinRefreshInterval(d time.Duration) JWKSOption {
	return func(j *JWKS) error {
		if d < 0 {
			return fmt.Errorf("%w: negative refresh interval", ErrInvalidOption)
		}
		j.minRefresh = d
		return nil
	}
}

// WithMaxAge sets how long a fetched set is used before it is fetched
// again; the default is one hour.
func WithMaxAge(d time.Duration) JWKSOption {
	return func(j *JWKS) error {
		if d <= 0 {
			return fmt.Errorf("%w: max age must be positive", ErrInvalidOption)
		}
		j.maxAge = d
		return nil
	}
}

// WithJWKSLogger sets the logger for fetch problems; the default (and what
// nil means) is slog.Default.
func WithJWKSLogger(l *slog.Logger) JWKSOption {
	return func(j *JWKS) error {
		if l == nil {
			l = slog.Default()
		}
		j.logger = l
		return nil
	}
}

// NewJWKS returns a KeySource that fetches keys from url, an http(s) URL.
// Nothing is fetched until the first Key call. The error wraps
// ErrInvalidOption.
func NewJWKS(url string, opts ...JWKSOption) (*JWKS, error) {
	if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
		return nil, fmt.Errorf("%w: JWKS URL %q: want http(s)", ErrInvalidOption, url)
	}
	j := &JWKS{url: url, client: &http.Client{Timeout: 10 * time.Second}, minRefresh: time.Minute,
		maxAge: time.Hour, logger: slog.Default()}
	for _, o := range opts {
		if o == nil {
			continue // a nil Option is no option
		}
		if err := o(j); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// Key returns the key with id kid, fetching the set when it is unknown or
// stale and the last attempt is at least MinRefreshInterval old.
func (j *JWKS) Key(ctx context.Context, kid string) (Key, error) {
	if k, ok := j.cached(kid); ok {
		return k, nil
	}
	if !j.fetchMu.TryLock() {
		// A fetch is under way. A key the stale set holds serves until it
		// ends rather than queueing every request behind the provider;
		// an unknown kid waits for the fetch, which may bring it.
		if k, ok := j.lookupAny(kid); ok {
			return k, nil
		}
		j.fetchMu.Lock()
	}
	defer j.fetchMu.Unlock()
	if k, ok := j.cached(kid); ok { // another caller just fetched it
		return k, nil
	}
	j.mu.Lock()
	due := j.tried.IsZero() || time.Since(j.tried) >= j.minRefresh
	j.mu.Unlock()
	if due {
		if err := j.fetch(ctx); err != nil {
			j.logger.LogAttrs(ctx, slog.LevelWarn, "jwtauth: JWKS fetch failed", slog.String("url", j.url), slog.String("error", err.Error()))
			if k, ok := j.lookupAny(kid); ok {
				return k, nil // a stale set beats none
			}
			return Key{}, err
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return lookup(j.byID, j.only, kid)
}

// cached returns the key when the set is fresh and holds it.
func (j *JWKS) cached(kid string) (Key, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fetched.IsZero() || time.Since(j.fetched) >= j.maxAge {
		return Key{}, false
	}
	k, err := lookup(j.byID, j.only, kid)
	return k, err == nil
}

func (j *JWKS) lookupAny(kid string) (Key, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	k, err := lookup(j.byID, j.only, kid)
	return k, err == nil
}

func (j *JWKS) fetch(ctx context.Context) error {
	j.mu.Lock()
	j.tried = time.Now()
	j.fetches++
	j.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrJWKSFetch, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrJWKSFetch, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: status %d", ErrJWKSFetch, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrJWKSFetch, err)
	}
	keys, perr := ParseJWKS(body)
	if len(keys) == 0 {
		return fmt.Errorf("%w: no usable keys: %v", ErrJWKSFetch, perr)
	}
	if perr != nil {
		j.logger.LogAttrs(ctx, slog.LevelWarn, "jwtauth: JWKS has keys that were skipped", slog.String("url", j.url), slog.String("error", perr.Error()))
	}
	byID := make(map[string]Key, len(keys))
	for _, k := range keys {
		byID[k.ID] = k
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.byID = byID
	j.only = nil
	if len(keys) == 1 {
		j.only = &keys[0]
	}
	j.fetched = j.tried
	return nil
}

// Fetches returns how many times the set was fetched (successfully or
// not); it shows the refresh rate limit at work.
func (j *JWKS) Fetches() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.fetches
}
