package gateway

import (
	"context"
	"net/http"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	subjectKey
	matchKey
	routeRecorderKey
)

// routeRecorder lets middleware outside routing (AccessLog, metrics) learn
// the name of the route that served the request.
type routeRecorder struct{ route string }

// TrackRoute lets middleware that runs before routing learn which route
// served the request: serve the returned request, then call route, which
// returns the route's Name ("" when no route matched).
func TrackRoute(r *http.Request) (tracked *http.Request, route func() string) {
	rec := &routeRecorder{}
	return r.WithContext(context.WithValue(r.Context(), routeRecorderKey, rec)), func() string { return rec.route }
}

func recordRoute(ctx context.Context, name string) {
	if rec, ok := ctx.Value(routeRecorderKey).(*routeRecorder); ok {
		rec.route = name
	}
}

// match is what routing found; one context value carries both fields.
type match struct {
	route    string
	upstream string      // the path forwarded upstream
	body     *clientBody // the request body, once the route's guard wrapped it
	response http.Header // the response headers the gateway set before proxying
}

// ContextWithSubject returns a context that carries the authenticated
// subject (the user id). Authentication middleware such as jwtauth sets
// it; rate limiting keys on it.
func ContextWithSubject(ctx context.Context, subject string) context.Context {
	return context.WithValue(ctx, subjectKey, subject)
}

// SubjectFromContext returns the authenticated subject, or "" for an anonymous
// request.
func SubjectFromContext(ctx context.Context) string {
	s, _ := ctx.Value(subjectKey).(string)
	return s
}

// RequestIDFromContext returns the request id set by the RequestID
// middleware, or "".
func RequestIDFromContext(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// RouteFromContext returns the name of the route that matched the request,
// or "" outside a route.
func RouteFromContext(ctx context.Context) string {
	if m, ok := ctx.Value(matchKey).(*match); ok {
		return m.route
	}
	return ""
}
