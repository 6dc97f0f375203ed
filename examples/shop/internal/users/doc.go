// Package users is the shop's user-service: sign-up and login with
// passwords hashed by bcrypt (golang.org/x/crypto), and short-lived JWTs
// signed with an Ed25519 key (EdDSA) whose public half it publishes as a
// JWKS at /.well-known/jwks.json, which the gateway verifies tokens with.
// The administrators of Config.Admins get the claim role=admin in their
// tokens; no one else has a role.
//
// Start at [New]; POST /users/signup, POST /users/login, GET /users/me.
package users
