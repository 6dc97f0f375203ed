package platform

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/go-microkit/microkit/gateway"
)

// RoleHeader carries the role claim of the caller's verified token from the
// gateway to the services, as gateway.DefaultSubjectHeader carries its
// subject. The gateway strips it from every client request (any spelling)
// and sets it only from a token it verified, so a service may trust it on
// requests that came through the gateway.
const RoleHeader = "X-Auth-Role"

// RoleAdmin is the role of the shop's operators: the only role the
// /admin/* endpoints accept.
const RoleAdmin = "admin"

// Role returns the role the gateway passed on, or "" for a customer.
func Role(r *http.Request) string { return r.Header.Get(RoleHeader) }

// RequireRole answers 403 to a request without role, and passes the others
// to h.
func RequireRole(role string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Role(r) != role {
			WriteError(w, r, http.StatusForbidden, gateway.CodeForbidden, "this endpoint needs the "+role+" role")
			return
		}
		h.ServeHTTP(w, r)
	})
}

type loggerKey struct{}

// withLogger puts the server's logger in the request context, for
// WriteInternal.
func withLogger(l *slog.Logger) gateway.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), loggerKey{}, l)))
		})
	}
}

func loggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// jsonMux answers the mux's own 404 and 405 (no pattern matched the path,
// or none the method) in the JSON error shape instead of plain text.
type jsonMux struct{ mux *http.ServeMux }

func (m jsonMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := m.mux.Handler(r)
	if pattern != "" {
		m.mux.ServeHTTP(w, r)
		return
	}
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusMethodNotAllowed:
		w.Header()["Allow"] = rec.header["Allow"]
		WriteError(w, r, rec.status, gateway.CodeMethodNotAllowed, "method not allowed on this path")
	default:
		WriteError(w, r, http.StatusNotFound, gateway.CodeNotFound, "no such path")
	}
}

// statusRecorder keeps the status and headers of the mux's own answer and
// drops its plain-text body.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(status int)      { s.status = status }
