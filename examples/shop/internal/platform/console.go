package platform

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-microkit/microkit/console"
)

// ConsolePath is where every service serves its operator's console, next
// to /metrics on its own port.
const ConsolePath = "/console/"

// ConsoleMetaKey is the key of the registry metadata under which every
// HTTP instance announces ConsolePath, so that a view over the registry
// finds each instance's console.
const ConsoleMetaKey = "console"

// ConsoleSampleEvery is how often a console reads the outbox backlogs for
// its sparklines: 60 readings cover the last five minutes.
const ConsoleSampleEvery = 5 * time.Second

// errNotOperator is why a console request without the admin role is
// refused (403).
var errNotOperator = errors.New("platform: the console needs the " + RoleAdmin + " role")

// AuthorizeConsole is the shop's console.Authorize: the request must carry
// the admin role and a subject as the gateway forwards them from a
// verified token (RoleHeader, gateway.DefaultSubjectHeader); the subject
// names the operator in the audit log. Anything else is 403: a service's
// console, like its /admin/* endpoints, trusts the headers the gateway
// sets and is not for clients to reach directly.
func AuthorizeConsole(r *http.Request) (console.Operator, error) {
	sub := Subject(r)
	if Role(r) != RoleAdmin || sub == "" {
		return console.Operator{}, errNotOperator
	}
	return console.Operator{Name: sub}, nil
}

// NewConsole returns a console titled title on the shop's authorization,
// auditing to logger, at path (zero means ConsolePath).
func NewConsole(title, path string, logger *slog.Logger) (*console.Console, error) {
	if path == "" {
		path = ConsolePath
	}
	return console.New(AuthorizeConsole, console.WithTitle(title), console.WithPath(path), console.WithLogger(logger))
}

// consoleRun runs a console's sampling loop in a goroutine that its stop
// function ends and waits for.
func consoleRun(c *console.Console) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx, ConsoleSampleEvery) // returns ctx's error once stopped
	}()
	return func() {
		cancel()
		<-done
	}
}

// RunConsole runs c's sampling loop (console.Console.Run) until the stack
// closes, for a process whose console is not its Server's (the gateway's).
func (s *Stack) RunConsole(c *console.Console) {
	stop := consoleRun(c)
	s.Push(func(context.Context) error {
		stop()
		return nil
	})
}
