package gateway

import (
	"context"
	"fmt"
	"net/url"
)

// Target is where a route sends its requests: one static URL, or a
// discovered service whose instances a balancer picks from (see the
// discovery adapter). It is the port between routing and upstream
// selection. Implementations are safe for concurrent use.
type Target interface {
	// Pick chooses the upstream for one attempt of one request. It returns
	// the upstream's base URL (scheme, host and an optional path prefix)
	// and a done func that the gateway calls exactly once with the
	// attempt's outcome (nil on success), so that balancers can count
	// in-flight requests and eject outliers. An outcome matching
	// context.Canceled (client gone, attempt not sent) must not count. An error wrapping
	// ErrNoUpstream makes the gateway answer 503.
	Pick(ctx context.Context) (base *url.URL, done func(err error), err error)
}

// staticTarget always picks the same URL.
type staticTarget struct{ u *url.URL }

// StaticTarget returns a Target that sends every request to rawURL, an
// absolute http or https URL whose path, if any, prefixes the forwarded
// path. The error wraps ErrInvalidOption.
func StaticTarget(rawURL string) (Target, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: target %q: %v", ErrInvalidOption, rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%w: target %q: want an absolute http(s) URL", ErrInvalidOption, rawURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%w: target %q: query, fragment and user info are not allowed", ErrInvalidOption, rawURL)
	}
	return staticTarget{u: u}, nil
}

func noopDone(error) {}

func (t staticTarget) Pick(context.Context) (*url.URL, func(error), error) {
	return t.u, noopDone, nil
}

// String returns the URL.
func (t staticTarget) String() string { return t.u.String() }
