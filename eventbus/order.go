package eventbus

import (
	"fmt"
	"reflect"

	"github.com/go-microkit/microkit/retry"
)

// The code of the middleware whose relative order Router checks. Every
// Middleware that Retry (or DeadLetter) returns is the same function
// literal, so its code pointer identifies it whatever its settings.
var (
	retryCode      = reflect.ValueOf(Retry(retry.Policy{})).Pointer()
	deadLetterCode = reflect.ValueOf(DeadLetter(nil)).Pointer()
)

// checkOrder returns an error wrapping ErrInvalidOption when chain (the
// first the outermost) breaks a guarantee: DeadLetter inside Retry never
// sees the permanent failure Retry makes of the last attempt, so an
// exhausted message would be terminated instead of parked.
func checkOrder(chain []Middleware) error {
	retry := false
	for _, mw := range chain {
		if mw == nil {
			return fmt.Errorf("%w: nil middleware", ErrInvalidOption)
		}
		switch reflect.ValueOf(mw).Pointer() {
		case retryCode:
			retry = true
		case deadLetterCode:
			if retry {
				return fmt.Errorf("%w: DeadLetter inside Retry never parks the last attempt's failure; "+
					"put DeadLetter before (outside) Retry", ErrInvalidOption)
			}
		}
	}
	return nil
}
