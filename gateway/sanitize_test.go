package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzSanitize: whatever header names and Connection value a client
// sends, after sanitize no header of the strip set is left under any
// spelling, no header the client named in Connection is left, and
// Connection keeps only close, keep-alive and upgrade.
func FuzzSanitize(f *testing.F) {
	f.Add("X_Real_IP", "keep-alive, X-Custom", "X-Custom")
	f.Add("x-forwarded-prefix", "Upgrade, HTTP2-Settings", "http2_settings")
	f.Add("X-HTTP-METHOD-OVERRIDE", ",,close,,", "")
	f.Add("X-Auth-Subject", "x_auth_subject", "X-Auth-Subject")
	long := "X-" + strings.Repeat("Long-", 14) + "Header" // over maxNormLen
	f.Add(strings.ReplaceAll(strings.ToLower(long), "-", "_"), "", "")
	g, err := New(nil, WithStripHeaders("X-Tenant", long))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name, conn, other string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "192.0.2.1:1234"
		r.Header = http.Header{name: {"v"}, other: {"v"}, "Connection": {conn}}
		g.sanitize(r)
		for k := range r.Header {
			if g.strip.class(k) != 0 || sameHeaderName(k, long) {
				t.Fatalf("%q left", k)
			}
		}
		var named []string
		for tok := range strings.SplitSeq(conn, ",") {
			tok = strings.TrimSpace(tok)
			switch strings.ToLower(tok) {
			case "", "close", "keep-alive", "upgrade":
			default:
				named = append(named, tok)
			}
		}
		for k := range r.Header {
			for _, n := range named {
				if sameHeaderName(k, n) {
					t.Fatalf("%q named in Connection %q left", k, conn)
				}
			}
		}
		for _, v := range r.Header["Connection"] {
			for tok := range strings.SplitSeq(v, ",") {
				switch strings.ToLower(strings.TrimSpace(tok)) {
				case "close", "keep-alive", "upgrade":
				default:
					t.Fatalf("Connection kept %q", tok)
				}
			}
		}
	})
}

// FuzzUpgradeAllowed: an upgrade passes only when the request asks for
// exactly one protocol the route lists, never h2c.
func FuzzUpgradeAllowed(f *testing.F) {
	f.Add("websocket", "Upgrade")
	f.Add("websocket, h2c", "upgrade, keep-alive")
	f.Add("h2c", "Upgrade, HTTP2-Settings")
	f.Add("WebSocket/13", "UPGRADE")
	c := &compiledRoute{upgrades: []string{"websocket"}}
	f.Fuzz(func(t *testing.T, up, conn string) {
		h := http.Header{"Upgrade": {up}, "Connection": {conn}}
		c.allowUpgrade(h)
		if v := h.Get("Upgrade"); v != "" {
			proto, _, _ := strings.Cut(strings.TrimSpace(v), "/")
			if !strings.EqualFold(proto, "websocket") {
				t.Fatalf("Upgrade %q kept", v)
			}
			return
		}
		for tok := range strings.SplitSeq(h.Get("Connection"), ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				t.Fatalf("Connection %q still asks for an upgrade", h.Get("Connection"))
			}
		}
	})
}
