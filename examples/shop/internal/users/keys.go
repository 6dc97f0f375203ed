package users

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/go-microkit/microkit/examples/shop/internal/platform"
)

// signingKey is the service's Ed25519 key. It lives in the database, so that
// every instance signs with the same key and a restart does not invalidate
// the tokens it issued.
type signingKey struct {
	id   string
	priv ed25519.PrivateKey
}

func loadOrCreateKey(ctx context.Context, db *platform.DB) (signingKey, error) {
	var id, seedHex string
	err := db.QueryRow(ctx, `SELECT kid, seed FROM signing_keys ORDER BY kid LIMIT 1`).Scan(&id, &seedHex)
	if errors.Is(err, sql.ErrNoRows) {
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return signingKey{}, fmt.Errorf("users: new key: %w", err)
		}
		kid := make([]byte, 8)
		_, _ = rand.Read(kid)
		if _, err := db.Exec(ctx, `INSERT INTO signing_keys (kid, seed) VALUES (?, ?) ON CONFLICT (kid) DO NOTHING`,
			hex.EncodeToString(kid), hex.EncodeToString(seed)); err != nil {
			return signingKey{}, fmt.Errorf("users: store key: %w", err)
		}
		return loadOrCreateKey(ctx, db)
	}
	if err != nil {
		return signingKey{}, fmt.Errorf("users: load key: %w", err)
	}
	seed, err := hex.DecodeString(seedHex)
	if err != nil || len(seed) != ed25519.SeedSize {
		return signingKey{}, fmt.Errorf("users: stored key %s is malformed", id)
	}
	return signingKey{id: id, priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// JWK is one JSON Web Key (RFC 8037 OKP form).
type JWK struct {
	// KeyType is "OKP".
	KeyType string `json:"kty"`
	// Curve is "Ed25519".
	Curve string `json:"crv"`
	// X is the public key, base64url without padding.
	X string `json:"x"`
	// KeyID is the "kid" tokens name.
	KeyID string `json:"kid"`
	// Algorithm is "EdDSA".
	Algorithm string `json:"alg"`
	// Use is "sig".
	Use string `json:"use"`
}

// JWKSet is a JSON Web Key Set (RFC 7517).
type JWKSet struct {
	// Keys are the verification keys.
	Keys []JWK `json:"keys"`
}

func (k signingKey) jwks() JWKSet {
	pub := k.priv.Public().(ed25519.PublicKey)
	return JWKSet{Keys: []JWK{{
		KeyType: "OKP", Curve: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub),
		KeyID: k.id, Algorithm: "EdDSA", Use: "sig",
	}}}
}
