package platform

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-microkit/microkit/console"
	"github.com/go-microkit/microkit/gateway"
)

// ConsolePath is where every service serves its operator's console, next
// to /metrics on its own port.
const ConsolePath = "/console/"

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

// ForwardOperator prepares a request of the aggregated console
// (console.WithInstanceRequest) to an instance's console: it passes on the
// operator the aggregate authorized, in the role and subject headers the
// gateway sets from a verified admin token, so that the instance's
// AuthorizeConsole accepts it and its audit log names the person.
func ForwardOperator(r *http.Request) {
	op, ok := console.OperatorFromContext(r.Context())
	if !ok || op.Name == "" {
		return // the instance refuses the request: nobody to act for
	}
	r.Header.Set(RoleHeader, RoleAdmin)
	r.Header.Set(gateway.DefaultSubjectHeader, op.Name)
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
