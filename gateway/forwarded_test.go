package gateway

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

func TestForwardedElement(t *testing.T) {
	tests := []struct {
		remote, host string
		tls          bool
		want         string
	}{
		{"192.0.2.1:5000", "shop.example", false, "for=192.0.2.1;host=shop.example;proto=http"},
		{"192.0.2.1:5000", "shop.example:8443", true, `for=192.0.2.1;host="shop.example:8443";proto=https`},
		{"[2001:db8::1]:5000", "[2001:db8::2]:80", false, `for="[2001:db8::1]";host="[2001:db8::2]:80";proto=http`},
		{"[::ffff:192.0.2.1]:5000", "h", false, "for=192.0.2.1;host=h;proto=http"},
		{"garbage", "h", false, "for=unknown;host=h;proto=http"},
		{"192.0.2.1:5000", `h";for=evil`, false, "for=192.0.2.1;proto=http"},
		{"192.0.2.1:5000", "", false, "for=192.0.2.1;proto=http"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr, r.Host = tt.remote, tt.host
		if tt.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if got := forwardedElement(r); got != tt.want {
			t.Errorf("%s %q: %s, want %s", tt.remote, tt.host, got, tt.want)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr, r.Host = "192.0.2.1:5000", "shop.example:8080"
	if n := testing.AllocsPerRun(100, func() { forwardedElement(r) }); n > 1 {
		t.Errorf("forwardedElement allocates %v times", n)
	}
}
