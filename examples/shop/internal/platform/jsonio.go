package platform

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrorBody is the JSON error every service answers with.
type ErrorBody struct {
	// Error says what went wrong.
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is a machine-readable code and a message for people.
type ErrorDetail struct {
	// Code is stable, for programs: "not_found", "declined", ...
	Code string `json:"code"`
	// Message is for people.
	Message string `json:"message"`
}

// WriteJSON answers status with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers status with an ErrorBody.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	WriteJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: message}})
}

// ReadJSON decodes the request body (at most 1 MiB) into v, rejecting
// unknown fields; on error it has answered 400 and returns false.
func ReadJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		WriteError(w, http.StatusBadRequest, "bad_request", "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

// StatusError is a non-2xx answer from another service.
type StatusError struct {
	// Status is the HTTP status.
	Status int
	// Code and Message come from the ErrorBody, when there was one.
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
		var eb ErrorBody
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
