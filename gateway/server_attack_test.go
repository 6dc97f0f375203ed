package gateway_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-microkit/microkit/gateway"
)

// TestHeaderLimitIsExact: NewServer accepts a header section (request
// line, fields, line ends) of exactly MaxHeaderBytes and answers 431 to one
// byte more, as docs/gateway.md says.
func TestHeaderLimitIsExact(t *testing.T) {
	up := echoUpstream(t, "up")
	g, err := gateway.New([]gateway.Route{{Path: "/**", Target: mustTarget(t, up.URL)}})
	if err != nil {
		t.Fatal(err)
	}
	srv := serveFrontDoor(t, g)
	addr := strings.TrimPrefix(srv.URL, "http://")
	head := "GET /x HTTP/1.1\r\nHost: gw\r\nX-Pad: "
	const tail = "\r\n\r\n"
	for _, tt := range []struct {
		size, status int
	}{
		{gateway.MaxHeaderBytes - 1, http.StatusOK},
		{gateway.MaxHeaderBytes, http.StatusOK},
		{gateway.MaxHeaderBytes + 1, http.StatusRequestHeaderFieldsTooLarge},
		{gateway.MaxHeaderBytes + 4096, http.StatusRequestHeaderFieldsTooLarge},
	} {
		req := head + strings.Repeat("x", tt.size-len(head)-len(tail)) + tail
		c := dialRaw(t, addr)
		c.send(req)
		if resp, _ := c.response(); resp.StatusCode != tt.status {
			t.Errorf("%d bytes of headers: status %d, want %d", len(req), resp.StatusCode, tt.status)
		}
	}
}

// TestNewServerCutsSlowClients: NewServer bounds the header read, the
// whole request read and idle keep-alive; with those limits shortened, a
// client that stalls in its headers, or idles, is disconnected.
func TestNewServerCutsSlowClients(t *testing.T) {
	s := gateway.NewServer(":0", http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= s.ReadHeaderTimeout || s.IdleTimeout <= 0 || s.WriteTimeout != 0 {
		t.Fatalf("NewServer timeouts: header %v, read %v, idle %v, write %v", s.ReadHeaderTimeout, s.ReadTimeout, s.IdleTimeout, s.WriteTimeout)
	}
	up := echoUpstream(t, "up")
	g, err := gateway.New([]gateway.Route{{Path: "/**", Target: mustTarget(t, up.URL)}})
	if err != nil {
		t.Fatal(err)
	}
	srv := serveFrontDoor(t, g, func(s *http.Server) {
		s.ReadHeaderTimeout = 100 * time.Millisecond
		s.IdleTimeout = 100 * time.Millisecond
	})
	addr := strings.TrimPrefix(srv.URL, "http://")

	slow := dialRaw(t, addr)
	slow.send("GET /x HTTP/1.1\r\nHost: gw\r\nX-Slow: ")
	if !slow.closedByPeer() {
		t.Error("a client stalling in its headers was not disconnected")
	}
	idle := dialRaw(t, addr)
	idle.send("GET /x HTTP/1.1\r\nHost: gw\r\n\r\n")
	if resp, _ := idle.response(); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !idle.closedByPeer() {
		t.Error("an idle keep-alive connection was not closed")
	}
}
