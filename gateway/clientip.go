package gateway

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP finds the address of the client that sent a request. It trusts
// X-Forwarded-For only as far as the chain of configured trusted proxies
// reaches: walking the header from the right, it skips addresses of
// trusted proxies and returns the first other one. A request whose peer is
// not a trusted proxy is judged by its peer address alone, so a client
// cannot pick its own identity (and its own rate-limit budget) by sending
// X-Forwarded-For. The zero ClientIP trusts no proxy. It is immutable and
// safe for concurrent use.
type ClientIP struct {
	trusted []netip.Prefix
}

// NewClientIP returns a ClientIP that trusts the given proxies, each a CIDR
// prefix ("10.0.0.0/8") or a single address ("192.0.2.7"). The error wraps
// ErrInvalidOption.
func NewClientIP(trustedProxies ...string) (ClientIP, error) {
	var c ClientIP
	for _, s := range trustedProxies {
		if p, err := netip.ParsePrefix(s); err == nil {
			c.trusted = append(c.trusted, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return ClientIP{}, fmt.Errorf("%w: trusted proxy %q is neither an address nor a CIDR prefix", ErrInvalidOption, s)
		}
		a = a.Unmap()
		c.trusted = append(c.trusted, netip.PrefixFrom(a, a.BitLen()))
	}
	return c, nil
}

func (c ClientIP) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Peer returns the address of the TCP peer of r (RemoteAddr), or the zero
// Addr when RemoteAddr cannot be parsed.
func Peer(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// Addr returns the client address of r.
func (c ClientIP) Addr(r *http.Request) netip.Addr {
	peer := Peer(r)
	if len(c.trusted) == 0 || !c.isTrusted(peer) {
		return peer
	}
	client := peer
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		hops := strings.Split(values[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				return client // garbage: stop at the last address we could trust
			}
			client = a.Unmap()
			if !c.isTrusted(client) {
				return client
			}
		}
	}
	return client
}

// Trusted reports whether the peer of r is a trusted proxy, whose
// X-Forwarded-* headers the gateway keeps and extends.
func (c ClientIP) Trusted(r *http.Request) bool {
	return len(c.trusted) > 0 && c.isTrusted(Peer(r))
}
