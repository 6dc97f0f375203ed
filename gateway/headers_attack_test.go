package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/gateway"
)

// strippedHeader is a request header an upstream may read as identity,
// client address, method, URL or forwarding information.
type strippedHeader struct {
	name string
	// fromTrusted says whether a trusted proxy's value reaches the
	// upstream (forwarding, address and identity headers a proxy in front
	// sets); the others are stripped from every client.
	fromTrusted bool
}

// strippedHeaders is the table of docs/gateway.md; a new header is one
// row. WithStripHeaders adds X-Tenant-Id in the tests.
var strippedHeaders = []strippedHeader{
	{"X-Auth-Subject", false},
	{"X-Tenant-Id", false},
	{"X-HTTP-Method-Override", false},
	{"X-HTTP-Method", false},
	{"X-Method-Override", false},
	{"X-Original-URL", false},
	{"X-Original-URI", false},
	{"X-Rewrite-URL", false},
	{"X-Original-Method", false},
	{"HTTP2-Settings", false},
	{"Forwarded", true},
	{"X-Forwarded", true},
	{"Forwarded-For", true},
	{"X-Forwarded-For", true},
	{"X-Forwarded-Host", true},
	{"X-Forwarded-Proto", true},
	{"X-Forwarded-Port", true},
	{"X-Forwarded-Prefix", true},
	{"X-Forwarded-Server", true},
	{"X-Forwarded-Scheme", true},
	{"X-Forwarded-Ssl", true},
	{"X-Forwarded-Uri", true},
	{"X-Forwarded-Path", true},
	{"X-Original-Forwarded-For", true},
	{"X-Host", true},
	{"X-Url-Scheme", true},
	{"X-Scheme", true},
	{"Front-End-Https", true},
	{"X-Real-IP", true},
	{"True-Client-IP", true},
	{"CF-Connecting-IP", true},
	{"X-Client-IP", true},
	{"X-Cluster-Client-IP", true},
	{"Fastly-Client-IP", true},
	{"Client-IP", true},
	{"X-ProxyUser-Ip", true},
	{"X-Envoy-External-Address", true},
	{"Remote-User", true},
	{"X-Remote-User", true},
	{"X-Forwarded-User", true},
	{"X-Forwarded-Email", true},
	{"X-Forwarded-Preferred-Username", true},
	{"X-Forwarded-Groups", true},
	{"X-Auth-Request-User", true},
	{"X-Auth-Request-Email", true},
	{"X-User", true},
}

// spellings are the ways a client can write name so that an upstream may
// still read it as name: any case, and '_' for '-' (CGI-style servers
// read both as HTTP_X_REAL_IP). net/http keeps underscore names as sent.
func spellings(name string) []string {
	under := strings.ReplaceAll(name, "-", "_")
	return []string{name, strings.ToLower(name), strings.ToUpper(name), under, strings.ToLower(under),
		strings.ToUpper(under)}
}

// TestStrippedHeaders: every spelling of every header of the table is
// removed from an untrusted client's request (the gateway then sets its
// own X-Forwarded-For, -Host, -Proto and Forwarded); from a trusted proxy
// the forwarding headers are kept and the others still removed. A
// method-override header cannot turn the routed GET into a DELETE.
func TestStrippedHeaders(t *testing.T) {
	up := echoUpstream(t, "up")
	routes := []gateway.Route{{Path: "/api/**", Methods: []string{"GET"}, Target: mustTarget(t, up.URL)}}
	untrusted := mustGateway(t, routes, gateway.WithStripHeaders("X-Tenant-Id"))
	trusted := mustGateway(t, routes, gateway.WithStripHeaders("X-Tenant-Id"), gateway.WithTrustedProxies("127.0.0.1"))
	for _, tt := range strippedHeaders {
		t.Run(tt.name, func(t *testing.T) {
			for _, peer := range []struct {
				name string
				url  string
				keep bool
			}{{"untrusted", untrusted.URL, false}, {"trusted", trusted.URL, tt.fromTrusted}} {
				var req strings.Builder
				req.WriteString("GET /api/1 HTTP/1.1\r\nHost: gw\r\n")
				for _, s := range spellings(tt.name) {
					req.WriteString(s + ": DELETE 203.0.113.9 admin\r\n")
				}
				req.WriteString("\r\n")
				c := dialRaw(t, strings.TrimPrefix(peer.url, "http://"))
				c.send(req.String())
				resp, body := c.response()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d: %s", peer.name, resp.StatusCode, body)
				}
				s := decodeSeen(t, body)
				if s.Method != http.MethodGet {
					t.Fatalf("%s: upstream saw method %s", peer.name, s.Method)
				}
				reached := 0
				for k, v := range s.Header {
					if sameName(k, tt.name) && strings.Contains(strings.Join(v, ","), "admin") {
						reached++
						if !peer.keep {
							t.Fatalf("%s: upstream saw %s: %q", peer.name, k, v)
						}
					}
				}
				if peer.keep && reached == 0 {
					t.Fatalf("%s: the trusted proxy's %s did not reach the upstream", peer.name, tt.name)
				}
			}
		})
	}
}

// TestConnectionCannotDropGatewayHeaders: a client that names headers in
// Connection loses its own such headers (they are hop-by-hop by its own
// word) but cannot make the proxy drop the ones the gateway sets.
func TestConnectionCannotDropGatewayHeaders(t *testing.T) {
	up := echoUpstream(t, "up")
	gw := mustGateway(t, []gateway.Route{{Path: "/api/**", Target: mustTarget(t, up.URL)}},
		gateway.WithMiddleware(gateway.RequestID()))
	c := dialRaw(t, strings.TrimPrefix(gw.URL, "http://"))
	c.send("GET /api/1 HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, X-Request-Id, X-Forwarded-For, Forwarded, X-Custom\r\nX-Custom: 1\r\n\r\n")
	resp, body := c.response()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	s := decodeSeen(t, body)
	for _, h := range []string{"X-Request-Id", "X-Forwarded-For", "Forwarded"} {
		if s.Header.Get(h) == "" {
			t.Errorf("upstream did not get %s", h)
		}
	}
	if s.Header.Get("X-Custom") != "" {
		t.Errorf("the client's hop-by-hop X-Custom was forwarded")
	}
}
