package retry

import "errors"

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err to say that retrying cannot succeed: do not retry.
// Every retry loop of the toolkit honours it: an eventbus handler's
// message is dead-lettered at once instead of redelivered, a saga step
// is not retried (its compensation starts), a saga compensation is not
// retried (the saga needs a human). The result keeps err's message, and
// errors.Is and errors.As see through it to err. Permanent(nil) is nil,
// and an error that is already permanent is returned as it is.
func Permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked by
// [Permanent].
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
