package gatewaysvc

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// After signing in, the browser goes back to the console page it asked
// for, never anywhere else.
func TestSafeNext(t *testing.T) {
	for _, tc := range []struct{ next, want string }{
		{"", "/admin/"},
		{"/admin", "/admin/"},
		{"/admin/", "/admin/"},
		{"/admin/breakers", "/admin/breakers"},
		{"/admin/api/", "/admin/api/"},
		{"/admin/breakers?x=1", "/admin/breakers?x=1"},
		{"/admin//breakers", "/admin/breakers"},
		{"/admin/../api/orders", "/admin/"},
		{"/admin/%2e%2e/api/orders", "/admin/"},
		{"/admin/%2fevil", "/admin/"},
		{"/administrator", "/admin/"},
		{"//evil.test/admin/", "/admin/"},
		{"https://evil.test/admin/", "/admin/"},
		{"javascript:alert(1)", "/admin/"},
		{`/admin/\evil`, "/admin/"},
		{"/api/orders", "/admin/"},
	} {
		if got := safeNext(tc.next); got != tc.want {
			t.Errorf("safeNext(%q) = %q, want %q", tc.next, got, tc.want)
		}
	}
}

// The console behind the gateway gets the trailing slash of the client's
// path back, which the gateway's cleaning removed.
func TestKeepTrailingSlash(t *testing.T) {
	for _, tc := range []struct{ requestURI, cleaned, want string }{
		{"/admin/", "/admin", "/admin/"},
		{"/admin/api/", "/admin/api", "/admin/api/"},
		{"/admin/api/?x=1", "/admin/api", "/admin/api/"},
		{"/admin/breakers", "/admin/breakers", "/admin/breakers"},
		{"/admin", "/admin", "/admin"},
	} {
		var got string
		h := keepTrailingSlash(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.URL.Path }))
		r := httptest.NewRequest(http.MethodGet, tc.requestURI, nil)
		r.URL.Path = tc.cleaned
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got != tc.want {
			t.Errorf("%s cleaned to %s: the console sees %s, want %s", tc.requestURI, tc.cleaned, got, tc.want)
		}
	}
}
