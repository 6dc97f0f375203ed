package gateway

import (
	"net/http"
	"strings"
)

// stripClass says from whom a header is stripped.
type stripClass uint8

const (
	// stripAlways: from every client, trusted proxies included.
	stripAlways stripClass = iota + 1
	// stripUntrusted: from clients whose peer is not a trusted proxy
	// (WithTrustedProxies); a trusted proxy's value is kept.
	stripUntrusted
)

// alwaysStripped are the request headers the gateway deletes from every
// client: the identity header it sets itself, and headers that make an
// upstream (or its framework) read another method or URL than the one the
// gateway routed and authorized.
var alwaysStripped = []string{
	DefaultSubjectHeader,
	// Method overrides (Rails, Symfony, Express method-override, ASP.NET).
	"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override",
	// URL and method rewrites (IIS, Symfony, nginx auth_request).
	"X-Original-URL", "X-Original-URI", "X-Rewrite-URL", "X-Original-Method",
	// h2c upgrade settings: h2c is never forwarded.
	"HTTP2-Settings",
}

// untrustedStripped are the request headers an upstream may read as the
// client's address, the client's identity, or how the request reached it.
// The gateway deletes them from clients that are not trusted proxies, and
// then sets X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto and
// Forwarded itself.
var untrustedStripped = []string{
	// Forwarding information.
	"Forwarded", "X-Forwarded", "Forwarded-For", "X-Forwarded-For", "X-Forwarded-Host",
	"X-Forwarded-Proto", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Server",
	"X-Forwarded-Scheme", "X-Forwarded-Ssl", "X-Forwarded-Uri", "X-Forwarded-Path",
	"X-Original-Forwarded-For", "X-Host", "X-Url-Scheme", "X-Scheme", "Front-End-Https",
	// Client addresses set by CDNs and load balancers.
	"X-Real-IP", "True-Client-IP", "CF-Connecting-IP", "X-Client-IP", "X-Cluster-Client-IP",
	"Fastly-Client-IP", "Client-IP", "X-ProxyUser-Ip", "X-Envoy-External-Address",
	// Identities set by authenticating proxies.
	"Remote-User", "X-Remote-User", "X-Forwarded-User", "X-Forwarded-Email",
	"X-Forwarded-Preferred-Username", "X-Forwarded-Groups", "X-Auth-Request-User",
	"X-Auth-Request-Email", "X-User",
}

// stripSet maps header names, in the normal form of normHeaderName, to
// their class.
type stripSet struct {
	names  map[string]stripClass
	maxLen int
	long   []string // names longer than maxNormLen (WithStripHeaders), always stripped
}

func newStripSet(extra []string) stripSet {
	s := stripSet{names: make(map[string]stripClass, len(alwaysStripped)+len(untrustedStripped)+len(extra))}
	add := func(n string, c stripClass) {
		var buf [maxNormLen]byte
		k, ok := normHeaderName(buf[:0], n)
		if !ok {
			s.long = append(s.long, n)
			s.maxLen = max(s.maxLen, len(n))
			return
		}
		if s.names[string(k)] != stripAlways {
			s.names[string(k)] = c
		}
		s.maxLen = max(s.maxLen, len(n))
	}
	for _, n := range untrustedStripped {
		add(n, stripUntrusted)
	}
	for _, n := range alwaysStripped {
		add(n, stripAlways)
	}
	for _, n := range extra {
		add(n, stripAlways)
	}
	return s
}

const maxNormLen = 64

// normHeaderName appends name lower-cased, with '_' as '-', to dst; it
// reports false for a name longer than maxNormLen.
func normHeaderName(dst []byte, name string) ([]byte, bool) {
	if len(name) > maxNormLen {
		return dst, false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '_':
			c = '-'
		}
		dst = append(dst, c)
	}
	return dst, true
}

// class returns how the header key is stripped; zero when it is not.
func (s stripSet) class(key string) stripClass {
	if len(key) > s.maxLen {
		return 0
	}
	var buf [maxNormLen]byte
	k, ok := normHeaderName(buf[:0], key)
	if !ok {
		for _, n := range s.long {
			if sameHeaderName(key, n) {
				return stripAlways
			}
		}
		return 0
	}
	return s.names[string(k)]
}

// sanitize prepares a client's request before anything else of the
// gateway sees it: it removes the headers the client named in Connection
// (they are hop-by-hop by the client's own word) and keeps in Connection
// only "close", "keep-alive" and "upgrade", so that a client cannot make
// the proxy drop a header the gateway sets later (the subject, the request
// id); then it strips the headers of the strip set, every spelling of
// them.
func (g *Gateway) sanitize(r *http.Request) {
	h := r.Header
	if conn, ok := h["Connection"]; ok {
		dropNominated(h, conn)
	}
	trusted := -1
	for k := range h {
		switch g.strip.class(k) {
		case stripAlways:
			delete(h, k)
		case stripUntrusted:
			if trusted < 0 {
				trusted = 0
				if g.cfg.clientIP.Trusted(r) {
					trusted = 1
				}
			}
			if trusted == 0 {
				delete(h, k)
			}
		}
	}
}

// dropNominated deletes the headers that the Connection values conn name,
// and rewrites Connection to the tokens the server and the proxy act on.
func dropNominated(h http.Header, conn []string) {
	var keep []string
	for _, v := range conn {
		for tok := range strings.SplitSeq(v, ",") {
			tok = strings.TrimSpace(tok)
			switch {
			case tok == "":
			case strings.EqualFold(tok, "close"), strings.EqualFold(tok, "keep-alive"), strings.EqualFold(tok, "upgrade"):
				keep = append(keep, tok)
			default:
				for k := range h {
					if sameHeaderName(k, tok) {
						delete(h, k)
					}
				}
			}
		}
	}
	if len(keep) == 0 {
		delete(h, "Connection")
		return
	}
	h["Connection"] = []string{strings.Join(keep, ", ")}
}

// allowUpgrade keeps the client's protocol upgrade when the route opted
// in to it (Route.Upgrades) and otherwise removes it, so that the request
// goes upstream as a plain request and no tunnel can open: Upgrade is
// deleted and "upgrade" taken out of Connection. An upgrade is kept only
// when the request asks for exactly one protocol and the route lists it.
func (c *compiledRoute) allowUpgrade(h http.Header) {
	up, ok := h["Upgrade"]
	if !ok {
		return
	}
	if len(up) == 1 && c.upgradeAllowed(up[0]) {
		return
	}
	delete(h, "Upgrade")
	conn := h["Connection"]
	if len(conn) == 0 {
		return
	}
	var keep []string
	for _, v := range conn {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" && !strings.EqualFold(tok, "upgrade") {
				keep = append(keep, tok)
			}
		}
	}
	if len(keep) == 0 {
		delete(h, "Connection")
		return
	}
	h["Connection"] = []string{strings.Join(keep, ", ")}
}

// upgradeAllowed reports whether the Upgrade value names one protocol
// (with or without a version) that the route lists.
func (c *compiledRoute) upgradeAllowed(v string) bool {
	proto, _, _ := strings.Cut(strings.TrimSpace(v), "/")
	if strings.ContainsAny(proto, ", \t") {
		return false
	}
	for _, p := range c.upgrades {
		if strings.EqualFold(p, proto) {
			return true
		}
	}
	return false
}
