package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
)

// Algorithms the Authenticator can verify. "none" is not among them and
// can never be enabled.
const (
	HS256 = "HS256"
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrInvalidOption is wrapped by constructor errors caused by an
	// invalid option or key.
	ErrInvalidOption = errors.New("jwtauth: invalid option")
	// ErrMissingToken is returned when a request has no bearer token.
	ErrMissingToken = errors.New("jwtauth: missing bearer token")
	// ErrInvalidToken is wrapped by every verification failure: bad
	// signature, wrong algorithm, expired, not yet valid, wrong issuer or
	// audience, unknown key.
	ErrInvalidToken = errors.New("jwtauth: invalid token")
	// ErrUnknownKey is wrapped when no key has the token's key id.
	ErrUnknownKey = errors.New("jwtauth: unknown key id")
	// ErrJWKSFetch is wrapped when the JWKS URL could not be fetched or
	// parsed; previously fetched keys stay in use.
	ErrJWKSFetch = errors.New("jwtauth: cannot fetch JWKS")
)

// Key is one verification key, bound to exactly one algorithm: a token is
// verified with a key only when its header names that algorithm, so a
// token signed with HS256 using an RSA public key as the secret (algorithm
// confusion) is rejected.
type Key struct {
	// ID is the key id ("kid") tokens name in their header. A token
	// without a kid is verified only when the source holds exactly one key.
	ID string
	// Algorithm is HS256, RS256, ES256 or EdDSA.
	Algorithm string
	// Key is a []byte secret of at least 32 bytes for HS256, an
	// *rsa.PublicKey of at least 2048 bits for RS256, an *ecdsa.PublicKey
	// on P-256 for ES256, or an ed25519.PublicKey for EdDSA.
	Key any
}

// Validate reports whether the key's material fits its algorithm; the
// error wraps ErrInvalidOption.
func (k Key) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: key %q (%s): "+format, append([]any{ErrInvalidOption, k.ID, k.Algorithm}, args...)...)
	}
	switch k.Algorithm {
	case HS256:
		b, ok := k.Key.([]byte)
		if !ok || len(b) < 32 {
			return bad("want a []byte secret of at least 32 bytes")
		}
	case RS256:
		pk, ok := k.Key.(*rsa.PublicKey)
		if !ok || pk == nil || pk.N == nil || pk.N.BitLen() < 2048 {
			return bad("want an *rsa.PublicKey of at least 2048 bits")
		}
	case ES256:
		pk, ok := k.Key.(*ecdsa.PublicKey)
		if !ok || pk == nil || pk.Curve != elliptic.P256() {
			return bad("want an *ecdsa.PublicKey on P-256")
		}
	case EdDSA:
		pk, ok := k.Key.(ed25519.PublicKey)
		if !ok || len(pk) != ed25519.PublicKeySize {
			return bad("want an ed25519.PublicKey")
		}
	default:
		return bad("unsupported algorithm")
	}
	return nil
}

// KeySource finds the verification key for a key id; it is the port to
// static keys and JWKS URLs. Implementations are safe for concurrent use.
type KeySource interface {
	// Key returns the key with id kid ("" for a token without a kid). An
	// unknown id is an error wrapping ErrUnknownKey.
	Key(ctx context.Context, kid string) (Key, error)
}

// staticKeys is a fixed key set.
type staticKeys struct {
	byID map[string]Key
	only *Key
}

// StaticKeys returns a KeySource of fixed keys. Key ids must be unique. The
// error wraps ErrInvalidOption.
func StaticKeys(keys ...Key) (KeySource, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrInvalidOption)
	}
	s := &staticKeys{byID: make(map[string]Key, len(keys))}
	for _, k := range keys {
		if err := k.Validate(); err != nil {
			return nil, err
		}
		if _, dup := s.byID[k.ID]; dup {
			return nil, fmt.Errorf("%w: duplicate key id %q", ErrInvalidOption, k.ID)
		}
		s.byID[k.ID] = k
	}
	if len(keys) == 1 {
		s.only = &keys[0]
	}
	return s, nil
}

func (s *staticKeys) Key(_ context.Context, kid string) (Key, error) {
	return lookup(s.byID, s.only, kid)
}

func lookup(byID map[string]Key, only *Key, kid string) (Key, error) {
	if k, ok := byID[kid]; ok {
		return k, nil
	}
	if kid == "" && only != nil {
		return *only, nil
	}
	return Key{}, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
}
