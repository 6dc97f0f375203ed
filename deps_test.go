package microkit_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoresCompileNoAdapter: importing a core package compiles nothing
// outside the standard library, in particular nothing of Prometheus,
// OpenTelemetry, a broker, a registry or a database client; those live in
// the adapter, metrics and trace subpackages (eventbus/natsbus, discovery/consul,
// eventbus/eventbusmetrics, eventbus/outbox/outboxmetrics, ...), so that a
// user pays only for what they import. The outbox keeps its events in the
// caller's *sql.DB, so it (with the console, which reads outbox tables and
// the dead-letter store) alone compiles database/sql (and no driver: see
// TestSQLStoresCompileNoDriver).
func TestCoresCompileNoAdapter(t *testing.T) {
	forbidden := []string{
		"github.com/prometheus/",
		"github.com/nats-io/",
		"github.com/rabbitmq/",
		"github.com/hashicorp/",
		"github.com/jackc/",
		"github.com/redis/",
		"database/sql",
		"google.golang.org/grpc",
	}
	cores := []string{"./breaker", "./gateway", "./eventbus", "./discovery", "./saga", "./retry", "./eventbus/outbox", "./sqldialect", "./console"}
	allowed := map[string]string{ // work on the caller's *sql.DB, with no driver
		"github.com/go-microkit/microkit/eventbus/outbox": "database/sql",
		"github.com/go-microkit/microkit/sqldialect":      "database/sql",
		"github.com/go-microkit/microkit/console":         "database/sql",
	}
	args := append([]string{"list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`}, cores...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(cores) {
		t.Fatalf("go list listed %d packages, want %d:\n%s", len(lines), len(cores), out)
	}
	for _, line := range lines {
		fields := strings.Fields(line)
		for _, dep := range fields[1:] {
			// Deps is transitive: this module's packages pass, and what
			// they compile is on this line too.
			if !strings.HasPrefix(dep, "github.com/go-microkit/microkit/") && strings.Contains(strings.SplitN(dep, "/", 2)[0], ".") {
				t.Errorf("%s compiles %s, outside the standard library", fields[0], dep)
				break // one line per core
			}
		}
		for _, f := range forbidden {
			if allowed[fields[0]] == f {
				continue
			}
			for _, dep := range fields[1:] {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s compiles %s", fields[0], dep)
					break // one line per core and family
				}
			}
		}
	}
}

// TestSQLStoresCompileNoDriver: the SQL stores compile no database driver
// (the program chooses and imports one), and the dead-letter store nothing
// of the outbox. That the dialect package, the outbox, retry and saga
// compile nothing outside the standard library is TestCoresCompileNoAdapter's.
func TestSQLStoresCompileNoDriver(t *testing.T) {
	drivers := []string{"github.com/jackc/", "modernc.org/", "github.com/lib/pq", "github.com/mattn/"}
	for _, tc := range []struct {
		pkg       string
		forbidden []string
	}{
		{"./eventbus/outbox", drivers},
		{"./eventbus/dlq", append([]string{"github.com/go-microkit/microkit/eventbus/outbox"}, drivers...)},
		{"./saga/sqlstore", drivers},
		{"./eventbus/sqlbus", drivers},
	} {
		out, err := exec.Command("go", "list", "-deps", tc.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", tc.pkg, err)
		}
		deps := strings.Fields(string(out))
		self := deps[len(deps)-1] // go list -deps lists the package last
		for _, dep := range deps[:len(deps)-1] {
			for _, f := range tc.forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s compiles %s", self, dep)
				}
			}
		}
	}
}
