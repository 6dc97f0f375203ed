package gateway_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-microkit/microkit/gateway"
)

// TestUpgradeThroughMiddleware: a protocol upgrade (as WebSocket uses)
// passes through the gateway and its response-wrapping middleware, which
// must keep the connection hijackable.
func TestUpgradeThroughMiddleware(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want an upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		fmt.Fprint(brw, "echo: "+line)
		_ = brw.Flush()
	}))
	t.Cleanup(up.Close)
	quiet := slog.New(slog.DiscardHandler)
	gw := mustGateway(t, []gateway.Route{{Path: "/ws", Target: mustTarget(t, up.URL), Upgrades: []string{"echo"}}},
		gateway.WithMiddleware(gateway.RequestID(), gateway.AccessLog(slog.New(slog.NewTextHandler(io.Discard, nil))), gateway.Recover(quiet)))

	conn, err := net.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /ws HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	fmt.Fprint(conn, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo: hello\n" {
		t.Fatalf("after the upgrade read %q, %v", line, err)
	}
}

// upgradeAttack is one protocol upgrade a client asks for.
type upgradeAttack struct {
	name, path string
	header     string // the request's header lines, each ending in CRLF
	// tunnel says whether the upgrade must pass (the route opted in).
	tunnel bool
}

// upgradeAttacks: upgrades are off unless a route lists the protocol, and
// h2c never passes. A new kind is one row.
var upgradeAttacks = []upgradeAttack{
	{"websocket on a plain route", "/api/1", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", false},
	{"websocket in a Connection list", "/api/1", "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n", false},
	{"h2c on a plain route", "/api/1", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n", false},
	{"h2c without listing its settings", "/api/1", "Connection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n", false},
	{"h2c on the websocket route", "/ws", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n", false},
	{"h2c with underscores", "/api/1", "Connection: Upgrade\r\nUpgrade: h2c\r\nHTTP2_Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n", false},
	{"TLS upgrade", "/ws", "Connection: Upgrade\r\nUpgrade: TLS/1.2\r\n", false},
	{"two protocols at once", "/ws", "Connection: Upgrade\r\nUpgrade: websocket, h2c\r\n", false},
	{"two Upgrade fields", "/ws", "Connection: Upgrade\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n", false},
	{"unlisted protocol", "/ws", "Connection: Upgrade\r\nUpgrade: echo\r\n", false},
	{"websocket where opted in", "/ws", "Connection: Upgrade\r\nUpgrade: websocket\r\n", true},
	{"websocket in another case where opted in", "/ws", "Connection: upgrade\r\nUpgrade: WebSocket\r\n", true},
}

// TestUpgradesOffByDefault: a client's upgrade passes only on a route
// that lists its protocol. Elsewhere the upstream sees a plain request
// (no Upgrade, no HTTP2-Settings, no "upgrade" in Connection), and the
// connection stays HTTP, so that the next request on it still goes
// through the gateway's checks rather than through a tunnel.
func TestUpgradesOffByDefault(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" && strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", r.Header.Get("Upgrade"))
			_ = brw.Flush()
			line, _ := brw.ReadString('\n')
			fmt.Fprint(brw, "tunnel: "+line)
			_ = brw.Flush()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{Path: r.URL.Path, Header: r.Header})
	}))
	t.Cleanup(up.Close)
	target := mustTarget(t, up.URL)
	gw := mustGateway(t, []gateway.Route{
		{Path: "/ws", Target: target, Upgrades: []string{"websocket"}},
		{Path: "/api/**", Target: target},
	})
	addr := strings.TrimPrefix(gw.URL, "http://")
	for _, tt := range upgradeAttacks {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, addr)
			c.send("GET " + tt.path + " HTTP/1.1\r\nHost: gw\r\n" + tt.header + "\r\n")
			resp, body := c.response()
			if tt.tunnel {
				if resp.StatusCode != http.StatusSwitchingProtocols {
					t.Fatalf("status %d, want 101: %s", resp.StatusCode, body)
				}
				c.send("hello\n")
				if line, err := c.br.ReadString('\n'); err != nil || line != "tunnel: hello\n" {
					t.Fatalf("through the tunnel: %q, %v", line, err)
				}
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200 for a plain request: %s", resp.StatusCode, body)
			}
			s := decodeSeen(t, body)
			for k, v := range s.Header {
				if sameName(k, "Upgrade") || sameName(k, "HTTP2-Settings") ||
					sameName(k, "Connection") && strings.Contains(strings.ToLower(strings.Join(v, ",")), "upgrade") {
					t.Fatalf("upstream saw %s: %q", k, v)
				}
			}
			// Still HTTP: the next request is routed and checked.
			c.send("GET /api/2 HTTP/1.1\r\nHost: gw\r\nX-Auth-Subject: admin\r\n\r\n")
			resp, body = c.response()
			if resp.StatusCode != http.StatusOK || decodeSeen(t, body).Header.Get("X-Auth-Subject") != "" {
				t.Fatalf("second request on the connection: %d %s", resp.StatusCode, body)
			}
		})
	}
}

// sameName reports whether two header names are one when case is ignored
// and '_' counts as '-'.
func sameName(a, b string) bool {
	return strings.EqualFold(strings.ReplaceAll(a, "_", "-"), strings.ReplaceAll(b, "_", "-"))
}

// TestUpgradesValidated: h2c cannot be opted in to, nor a malformed
// protocol name.
func TestUpgradesValidated(t *testing.T) {
	for _, protos := range [][]string{{"h2c"}, {"H2C"}, {""}, {"websocket, h2c"}, {"tls/1.2"}} {
		_, err := gateway.New([]gateway.Route{{Path: "/ws", Target: mustTarget(t, "http://up"), Upgrades: protos}})
		if !errors.Is(err, gateway.ErrInvalidOption) {
			t.Errorf("Upgrades %q: %v, want ErrInvalidOption", protos, err)
		}
	}
}
