package sqldb_test

import (
	"strings"
	"testing"

	"github.com/go-microkit/microkit/internal/sqldb"
)

func TestIdentRule(t *testing.T) {
	lower50 := sqldb.IdentRule{MaxLen: 50, LowerOnly: true}
	any63 := sqldb.IdentRule{}
	for _, tc := range []struct {
		rule sqldb.IdentRule
		name string
		ok   bool
		msg  string // part of the error, when !ok
	}{
		{lower50, "microkit_outbox", true, ""},
		{lower50, "t2_x", true, ""},
		{lower50, "_t", true, ""},
		{lower50, strings.Repeat("a", 50), true, ""},
		{lower50, strings.Repeat("a", 51), false, "1 to 50 characters"},
		{lower50, "", false, "1 to 50 characters"},
		{lower50, "Sagas", false, "lower-case letters"},
		{lower50, "2t", false, "not starting with a digit"},
		{lower50, "t; DROP TABLE x", false, "lower-case letters"},
		{lower50, "t-x", false, "lower-case letters"},
		{lower50, "tés", false, "lower-case letters"},
		{any63, "Sagas_2", true, ""},
		{any63, strings.Repeat("A", 63), true, ""},
		{any63, strings.Repeat("A", 64), false, "1 to 63 characters"},
		{any63, "", false, "1 to 63 characters"},
		{any63, "9a", false, "must be letters, digits and _"},
		{any63, `a"b`, false, "must be letters, digits and _"},
	} {
		err := tc.rule.Check(tc.name)
		if tc.ok {
			if err != nil {
				t.Errorf("%+v.Check(%q) = %v, want nil", tc.rule, tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%+v.Check(%q) = %v, want an error with %q", tc.rule, tc.name, err, tc.msg)
		}
	}
}
