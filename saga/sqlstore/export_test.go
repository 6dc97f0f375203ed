package sqlstore

import "github.com/go-microkit/microkit/saga"

// ListQuery returns the statement and arguments of s.List(ctx, f), for
// the tests that look at its plan.
func ListQuery(s *Store, f saga.Filter) (string, []any) { return s.listQuery(f) }
