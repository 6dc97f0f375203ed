package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrInvalidOption is wrapped by every constructor error caused by an
	// invalid option or route setting.
	ErrInvalidOption = errors.New("gateway: invalid option")
	// ErrNoUpstream is wrapped when a route's target has no upstream to
	// send a request to (no healthy instance, every breaker open); the
	// gateway answers 503.
	ErrNoUpstream = errors.New("gateway: no upstream available")
	// ErrUpstreamUnavailable is wrapped when an upstream refused a request
	// without contacting it, for example because its breaker is open; the
	// gateway answers 503.
	ErrUpstreamUnavailable = errors.New("gateway: upstream unavailable")
	// ErrRequiredPart is wrapped by Compose when a required part failed.
	ErrRequiredPart = errors.New("gateway: required part failed")
)

// RouteError is returned by New for an invalid route; it names the route
// and the field.
type RouteError struct {
	// Route is the route's Name, or its index as "#3" when unnamed.
	Route string
	// Field is the Route field at fault, e.g. "Path" or "Retry".
	Field string
	// Err is the cause; it wraps ErrInvalidOption.
	Err error
}

// Error implements error.
func (e *RouteError) Error() string {
	return fmt.Sprintf("gateway: route %s: %s: %v", e.Route, e.Field, e.Err)
}

// Unwrap returns the cause.
func (e *RouteError) Unwrap() error { return e.Err }

// ErrorBody is the JSON body of every error response the gateway writes
// itself, so that clients can read 4xx and 5xx answers the same way:
//
//	{"error":{"status":503,"code":"upstream_unavailable","message":"...","request_id":"..."}}
type ErrorBody struct {
	// Error is the one member of the body.
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the content of ErrorBody.
type ErrorDetail struct {
	// Status repeats the HTTP status code.
	Status int `json:"status"`
	// Code is a stable machine-readable name such as "bad_gateway".
	Code string `json:"code"`
	// Message is a short human-readable text; it never carries internal
	// error details.
	Message string `json:"message"`
	// RequestID is the request id, when the RequestID middleware ran.
	RequestID string `json:"request_id,omitempty"`
}

// Error codes written in ErrorDetail.Code.
const (
	CodeBadRequest          = "bad_request"
	CodeUnauthorized        = "unauthorized"
	CodeNotFound            = "not_found"
	CodeGone                = "gone"
	CodeMethodNotAllowed    = "method_not_allowed"
	CodeTooLarge            = "payload_too_large"
	CodeHeadersTooLarge     = "headers_too_large"
	CodeTooManyRequests     = "too_many_requests"
	CodeInternal            = "internal_error"
	CodeBadGateway          = "bad_gateway"
	CodeUpstreamUnavailable = "upstream_unavailable"
	CodeUpstreamTimeout     = "upstream_timeout"
	CodeForbidden           = "forbidden"
	CodeRequestTimeout      = "request_timeout"
	CodeClientClosed        = "client_closed_request"
)

// WriteError writes a JSON ErrorBody with the given status, code and
// message. Middleware outside this package (auth, rate limiting) uses it so
// that every answer of the gateway has one shape.
func WriteError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	body := ErrorBody{Error: ErrorDetail{Status: status, Code: code, Message: message}}
	if r != nil {
		body.Error.RequestID = RequestIDFromContext(r.Context())
	}
	b, _ := json.Marshal(body) // cannot fail: only strings and ints
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
