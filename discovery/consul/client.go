package consul

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/go-microkit/microkit/discovery"
)

// The options in this file configure the Consul API client itself, so that
// the common settings need no *api.Config. They apply on top of the Config
// given to [New] (or of api.DefaultConfig(), which reads CONSUL_HTTP_ADDR,
// CONSUL_HTTP_TOKEN and the other CONSUL_* variables), and win over it.

// WithAddress sets the agent's HTTP API address: "host:port",
// "http://host:port", "https://host:port" (TLS), or "unix:///path/to.sock".
// An http or https address may end in a path, the prefix of a reverse proxy
// in front of the agent. The scheme, when given, sets the client's scheme.
// Empty means the default: CONSUL_HTTP_ADDR, or 127.0.0.1:8500.
func WithAddress(addr string) Option {
	return func(r *Registry) error {
		if addr == "" {
			return nil
		}
		scheme, err := checkAddress(addr)
		if err != nil {
			return fmt.Errorf("%w: address %q: %v", discovery.ErrInvalidOption, addr, err)
		}
		r.apiConfig.Address = addr
		if scheme == "http" || scheme == "https" {
			r.apiConfig.Scheme = scheme
		}
		return nil
	}
}

// checkAddress returns the scheme of a Consul address, "" for none, or why
// the client could not use it.
func checkAddress(addr string) (string, error) {
	scheme, rest, found := strings.Cut(addr, "://")
	if !found {
		scheme, rest = "", addr
	}
	switch scheme {
	case "unix":
		if !strings.HasPrefix(rest, "/") {
			return "", fmt.Errorf("want an absolute socket path")
		}
		return scheme, nil
	case "", "http", "https":
	default:
		return "", fmt.Errorf("scheme %q is not http, https or unix", scheme)
	}
	u, err := url.Parse("http://" + rest)
	switch {
	case err != nil:
		return "", err
	case u.Hostname() == "":
		return "", fmt.Errorf("no host")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(rest, "?#"):
		return "", fmt.Errorf("want host:port, without user, query or fragment")
	case scheme == "" && u.Path != "":
		return "", fmt.Errorf("a path prefix needs a scheme, http:// or https://")
	}
	return scheme, nil
}

// WithToken sets the ACL token sent with every request, which wins over
// CONSUL_HTTP_TOKEN and CONSUL_HTTP_TOKEN_FILE. Empty means the default,
// those variables.
func WithToken(token string) Option {
	return func(r *Registry) error {
		if token == "" {
			return nil
		}
		if strings.IndexFunc(token, func(c rune) bool { return c <= ' ' || c == 0x7f }) >= 0 {
			return fmt.Errorf("%w: the token holds spaces or control characters", discovery.ErrInvalidOption)
		}
		r.apiConfig.Token, r.apiConfig.TokenFile = token, ""
		return nil
	}
}

// WithDatacenter sets the datacenter whose catalog Instances and Watch
// read. Empty means the default, the agent's own datacenter.
// Registration always goes to the local agent.
func WithDatacenter(dc string) Option {
	return func(r *Registry) error {
		if dc == "" {
			return nil
		}
		if strings.IndexFunc(dc, func(c rune) bool {
			return !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.')
		}) >= 0 {
			return fmt.Errorf("%w: datacenter %q: want letters, digits, '-', '_' or '.'", discovery.ErrInvalidOption, dc)
		}
		r.apiConfig.Datacenter = dc
		return nil
	}
}
