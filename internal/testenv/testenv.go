// Package testenv gives integration tests the address of an outside server
// (PostgreSQL, RabbitMQ, Consul, ...) from the environment.
//
// A test that needs a server calls [Addr]. When the variable is unset the
// test is skipped with a message that names the variable, so that `go test
// ./...` passes on a machine with only Go installed. CI sets
// MICROKIT_INTEGRATION=1, which turns such a skip into a failure: in CI every
// integration test runs.
package testenv

import (
	"os"
	"testing"
)

// RequireEnv is the variable that, when set to a non-empty value, makes a
// missing server address fail the test instead of skipping it.
const RequireEnv = "MICROKIT_INTEGRATION"

// Addr returns the value of the environment variable name, the address of an
// outside server the test needs. If it is unset, the test is skipped, or
// failed when [RequireEnv] is set.
func Addr(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("integration test needs %s, which is unset (%s is set, so skipping is not allowed)", name, RequireEnv)
	}
	t.Skipf("integration test skipped: set %s to run it (.ci/run sets it)", name)
	return ""
}
