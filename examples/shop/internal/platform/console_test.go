package platform

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-microkit/microkit/gateway"
)

// Only the admin role with a subject, as the gateway forwards them, opens
// a service's console; the subject names the operator.
func TestAuthorizeConsole(t *testing.T) {
	for _, tc := range []struct {
		name          string
		role, subject string
		want          string // operator, "" for refused
	}{
		{"admin", RoleAdmin, "u-ops", "u-ops"},
		{"no headers", "", "", ""},
		{"a customer", "", "u-ada", ""},
		{"admin without a subject", RoleAdmin, "", ""},
		{"another role", "support", "u-ops", ""},
		{"the role in another case", "Admin", "u-ops", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, ConsolePath, nil)
			if tc.role != "" {
				r.Header.Set(RoleHeader, tc.role)
			}
			if tc.subject != "" {
				r.Header.Set(gateway.DefaultSubjectHeader, tc.subject)
			}
			op, err := AuthorizeConsole(r)
			switch {
			case tc.want == "" && err == nil:
				t.Fatalf("AuthorizeConsole = %+v, want refused", op)
			case tc.want != "" && (err != nil || op.Name != tc.want || op.ReadOnly):
				t.Fatalf("AuthorizeConsole = %+v, %v, want operator %s", op, err, tc.want)
			}
		})
	}
}
