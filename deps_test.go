package microkit_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoresCompileNoAdapter: importing a core package compiles nothing of
// Prometheus, a broker, a registry or a database client; those live in the
// adapter and metrics subpackages (eventbus/natsbus, discovery/consul,
// eventbus/eventbusmetrics, ...), so that a user pays only for what they
// import.
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
	cores := []string{"./breaker", "./gateway", "./eventbus", "./discovery", "./saga"}
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
		for _, f := range forbidden {
			for _, dep := range fields[1:] {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s compiles %s", fields[0], dep)
					break // one line per core and family
				}
			}
		}
	}
}
