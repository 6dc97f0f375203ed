// Package users is the shop's user-service: sign-up and login with
// passwords hashed by bcrypt (golang.org/x/crypto), and short-lived JWTs
// signed with an Ed25519 key (EdDSA) whose public half it publishes as a
// JWKS at /.well-known/jwks.json, which the gateway verifies tokens with.
//
// Start at [New]; POST /users/signup, POST /users/login, GET /users/me.
package users
