package platform

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/go-microkit/microkit/gateway"
)

// The JSON error envelope of every service is the gateway's own,
// gateway.ErrorBody:
//
//	{"error":{"status":404,"code":"not_found","message":"no such order","request_id":"..."}}
//
// so that a client reads an error made by the gateway and one passed
// through from a service the same way. The request id is the one the
// gateway forwarded in X-Request-Id (the Server adopts it), so that a
// customer's report finds the gateway's and the service's logs.

// WriteJSON answers status with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers status with a gateway.ErrorBody carrying code, a
// message for people and r's request id. The message must be fit for a
// customer: no Go types, no SQL, no internal addresses (see WriteInternal).
func WriteError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	gateway.WriteError(w, r, status, code, message)
}

// WriteInternal logs err with the request's method, path and id, and
// answers 500 with a generic message: the detail of an internal failure
// (SQL text, addresses, Go errors) is for the operator's log, not for the
// client.
func WriteInternal(w http.ResponseWriter, r *http.Request, err error) {
	loggerFrom(r.Context()).LogAttrs(r.Context(), slog.LevelError, "request failed",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.String("request_id", gateway.RequestIDFromContext(r.Context())), slog.String("err", err.Error()))
	WriteError(w, r, http.StatusInternalServerError, gateway.CodeInternal, "internal error; retry later, or report the request id")
}

// MaxBodyBytes is the largest request body ReadJSON accepts: 1 MiB.
const MaxBodyBytes = 1 << 20

// ReadJSON decodes the request body strictly into v: one JSON value of at
// most MaxBodyBytes, no field that v does not have, nothing after the
// value. On failure it has answered (413 for a body over the limit, 400
// otherwise, with a message that names the offending field in JSON terms)
// and returns false. Every service reads its bodies through it.
func ReadJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.ContentLength > MaxBodyBytes {
		writeTooLarge(w, r)
		return false
	}
	err := decodeStrict(http.MaxBytesReader(w, r.Body, MaxBodyBytes), v)
	if err == nil {
		return true
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		writeTooLarge(w, r)
		return false
	}
	WriteError(w, r, http.StatusBadRequest, gateway.CodeBadRequest, "invalid JSON body: "+err.Error())
	return false
}

func writeTooLarge(w http.ResponseWriter, r *http.Request) {
	WriteError(w, r, http.StatusRequestEntityTooLarge, gateway.CodeTooLarge,
		fmt.Sprintf("request body too large: at most %d bytes", MaxBodyBytes))
}

// bodyError is a decoding failure told in JSON terms; it wraps the reader's
// error, if any, so that ReadJSON can find an *http.MaxBytesError.
type bodyError struct {
	msg string
	err error
}

func (e *bodyError) Error() string { return e.msg }
func (e *bodyError) Unwrap() error { return e.err }

// decodeStrict decodes exactly one JSON value from rd into v. Its errors
// say what is wrong in words a client can act on: the Go types and struct
// names of encoding/json's messages are replaced by JSON ones.
func decodeStrict(rd io.Reader, v any) error {
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return explain(err)
	}
	// Exactly one value: trailing data (garbage or a second value) is
	// refused, so that what the client meant is not guessed.
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case err == nil:
		return &bodyError{msg: "unexpected data after the JSON value"}
	default:
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return &bodyError{msg: "body too large", err: err}
		}
		return &bodyError{msg: "unexpected data after the JSON value"}
	}
}

func explain(err error) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return &bodyError{msg: fmt.Sprintf("malformed JSON near byte %d", se.Offset)}
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		msg := fmt.Sprintf("%s must be %s", fieldName(te.Field), jsonKind(te.Type.Kind().String()))
		if te.Value != "" {
			msg += ", not " + te.Value
		}
		return &bodyError{msg: msg}
	}
	switch {
	case errors.Is(err, io.EOF):
		return &bodyError{msg: "empty body: want a JSON object"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &bodyError{msg: "the JSON value ends early"}
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return &bodyError{msg: "body too large", err: err}
	}
	if uf, ok := unknownField(err); ok {
		return &bodyError{msg: fmt.Sprintf("unknown field %s", uf)}
	}
	return &bodyError{msg: "the body does not match the expected JSON object"}
}

// unknownField returns the quoted name from DisallowUnknownFields' error,
// which encoding/json gives no type of its own.
func unknownField(err error) (string, bool) {
	const prefix = "json: unknown field "
	s := err.Error()
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return "", false
}

func fieldName(path string) string {
	if path == "" {
		return "the body"
	}
	return fmt.Sprintf("field %q", path)
}

// jsonKind names a Go reflect kind in JSON terms.
func jsonKind(kind string) string {
	switch kind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "another JSON type"
}

// StatusError is a non-2xx answer from another service.
type StatusError struct {
	// Status is the HTTP status.
	Status int
	// Code and Message come from the error body, when there was one.
	Code, Message string
}

// Error implements error.
func (e *StatusError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("status %d", e.Status)
	}
	return fmt.Sprintf("status %d: %s: %s", e.Status, e.Code, e.Message)
}

// StatusOf returns the status of a *StatusError in err's chain, or 0.
func StatusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

// DecodeResponse closes resp's body after decoding it into out (when out
// is not nil and the status is 2xx); any other status is a *StatusError.
func DecodeResponse(resp *http.Response, out any) error {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		se := &StatusError{Status: resp.StatusCode}
		var eb gateway.ErrorBody
		if json.Unmarshal(body, &eb) == nil {
			se.Code, se.Message = eb.Error.Code, eb.Error.Message
		}
		return se
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode body: %w", err)
	}
	return nil
}
