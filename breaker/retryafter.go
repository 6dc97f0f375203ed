package breaker

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// parseRetryAfter reads a Retry-After header value (RFC 9110 section
// 10.2.3): either delay seconds or an HTTP date, which is taken relative to
// now. It returns false for anything else, and 0 for a date in the past.
// Delays beyond maxRetryAfter, in either form, are held to it.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseUint(v, 10, 32)
		if errors.Is(err, strconv.ErrRange) {
			// All digits but too many: a valid, very long delay, held to
			// the largest one, as far-off dates are.
			return maxRetryAfter, true
		}
		if err != nil {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), maxRetryAfter), true
}

// maxRetryAfter is the largest delay the seconds form can state; dates are
// held to it too.
const maxRetryAfter = (1<<32 - 1) * time.Second
