package sqldb

import "fmt"

// IdentRule is what a name spliced into a statement (a table name) may
// be: 1 to MaxLen ASCII letters, digits and _, not starting with a digit,
// so that it can never close a statement or quote. The zero MaxLen means
// 63, PostgreSQL's limit.
type IdentRule struct {
	// MaxLen is the longest name allowed; zero means 63. A package that
	// derives index or trigger names from the table name leaves room for
	// their suffixes with a smaller limit.
	MaxLen int
	// LowerOnly rejects upper-case letters. PostgreSQL folds unquoted names
	// to lower case, so a lower-case name reads the same in every tool.
	LowerOnly bool
}

// Check returns nil if name follows the rule, or an error that says why
// not, phrased for a table name.
func (r IdentRule) Check(name string) error {
	maxLen := r.MaxLen
	if maxLen <= 0 {
		maxLen = 63
	}
	if name == "" || len(name) > maxLen {
		return fmt.Errorf("table name %q must have 1 to %d characters", name, maxLen)
	}
	for i, c := range name {
		upper := !r.LowerOnly && c >= 'A' && c <= 'Z'
		if c != '_' && (c < 'a' || c > 'z') && !upper && (i == 0 || c < '0' || c > '9') {
			if r.LowerOnly {
				return fmt.Errorf("table name %q must be lower-case letters, digits and _, not starting with a digit", name)
			}
			return fmt.Errorf("table name %q must be letters, digits and _, not starting with a digit", name)
		}
	}
	return nil
}
