package dlq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/sqldialect"
)

// ErrInvalidFilter is wrapped by the error of List, Count, ReplayMatching
// and DeleteMatching for a Filter they cannot run (a Type that is no
// pattern, a Search that is not UTF-8), and by the error of
// Cursor.UnmarshalText for text that is no cursor: input a caller should
// correct rather than retry. For an invalid Type the error wraps
// eventbus.ErrInvalidPattern too.
var ErrInvalidFilter = errors.New("dlq: invalid filter")

// Filter selects entries for List, Count, ReplayMatching and
// DeleteMatching. The zero Filter lists every entry not yet replayed,
// oldest first, up to 100.
type Filter struct {
	// Type, if set, is a pattern the original type must match.
	Type string
	// Group, if set, is the group the message failed in.
	Group string
	// OriginalID, if set, is the ID of the message that failed: its
	// entries, one per failure. With Replayed set they are the message's
	// history: every failure, each with its replays.
	OriginalID string
	// Search, if set, keeps the entries whose ID or OriginalID starts with
	// it, compared byte for byte (case matters; '%', '_' and '*' are plain
	// characters). It must be valid UTF-8 without NUL.
	Search string
	// Replayed includes entries already replayed; false lists only those
	// never replayed.
	Replayed bool
	// Newest lists newest first: by ParkedAt, then ID, both descending.
	// False lists oldest first.
	Newest bool
	// After, if set, lists only the entries after it in the order Newest
	// chooses: pass the Cursor of the last entry of a page to get the next
	// one. Paging this way skips and repeats nothing, whatever is parked,
	// replayed or deleted in between, and costs the same on every page.
	// Nil starts at the beginning. Count, ReplayMatching and
	// DeleteMatching ignore it.
	After *Cursor
	// Limit bounds List's result; zero means 100. A page shorter than
	// Limit is the last. Count, ReplayMatching and DeleteMatching ignore
	// it.
	Limit int
}

// Cursor is an entry's place in the order of a listing: by ParkedAt,
// then by ID, which is unique, so that entries parked at the same instant
// still have a place each. Filter.After takes it.
type Cursor struct {
	ParkedAt time.Time
	ID       string
}

// Cursor returns e's place in a listing, for Filter.After.
func (e Entry) Cursor() Cursor { return Cursor{ParkedAt: e.ParkedAt, ID: e.ID} }

// MarshalText encodes c as "<ParkedAt in Unix nanoseconds>:<ID>", for a
// link to the next page.
func (c Cursor) MarshalText() ([]byte, error) {
	return []byte(strconv.FormatInt(c.ParkedAt.UnixNano(), 10) + ":" + c.ID), nil
}

// UnmarshalText decodes what MarshalText encoded. Text that is no cursor
// gives an error wrapping ErrInvalidFilter.
func (c *Cursor) UnmarshalText(text []byte) error {
	nanos, id, ok := strings.Cut(string(text), ":")
	n, err := strconv.ParseInt(nanos, 10, 64)
	if !ok || err != nil || id == "" {
		return fmt.Errorf("%w: cursor %q: want <unix nanoseconds>:<ID>", ErrInvalidFilter, text)
	}
	c.ParkedAt, c.ID = time.Unix(0, n).UTC(), id
	return nil
}

// selection is a Filter's conditions as SQL, without its order and page;
// its arguments are numbered from $1 in order.
type selection struct {
	where []string
	args  []any
}

// arg adds v to the arguments and returns its parameter.
func (q *selection) arg(v any) string {
	q.args = append(q.args, v)
	return sqldb.Param(len(q.args))
}

// and returns a copy of q with one more condition, in which each "?" is
// the parameter of the next of args.
func (q *selection) and(cond string, args ...any) *selection {
	c := &selection{where: slices.Clone(q.where), args: slices.Clone(q.args)}
	var b strings.Builder
	for i, part := range strings.Split(cond, "?") {
		if i > 0 {
			b.WriteString(c.arg(args[i-1]))
		}
		b.WriteString(part)
	}
	c.where = append(c.where, b.String())
	return c
}

// clause returns " WHERE ..." or "".
func (q *selection) clause() string {
	if len(q.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.where, " AND ")
}

// bytewise returns col compared byte for byte. Prefix ranges need it: in
// a linguistic collation (PostgreSQL's en_US.UTF-8, say) the strings that
// start with a prefix need not sort next to it. The indexes that serve
// these comparisons are built with the same collation (see Migrate).
func (s *Store) bytewise(col string) string {
	if s.dialect == sqldialect.Postgres {
		return col + ` COLLATE "C"`
	}
	return col // SQLite's default collation, BINARY, is byte order
}

// selection returns f's conditions. A Type pattern with '*' tokens is
// resolved here to the types it matches among those parked, so that every
// condition runs in SQL on an index.
func (s *Store) selection(ctx context.Context, f Filter) (*selection, error) {
	q := &selection{}
	if f.Group != "" {
		q.where = append(q.where, "grp = "+q.arg(f.Group))
	}
	if f.OriginalID != "" {
		q.where = append(q.where, s.bytewise("original_id")+" = "+q.arg(f.OriginalID))
	}
	if !f.Replayed {
		q.where = append(q.where, "replays = 0") // the predicate of the _open indexes
	}
	if f.Search != "" {
		if !utf8.ValidString(f.Search) || strings.ContainsRune(f.Search, 0) {
			return nil, fmt.Errorf("%w: search %q: want UTF-8 without NUL", ErrInvalidFilter, f.Search)
		}
		q.where = append(q.where, "("+s.prefixed(q, "id", f.Search)+" OR "+s.prefixed(q, "original_id", f.Search)+")")
	}
	if f.Type != "" {
		if err := s.typeCondition(ctx, q, f.Type, f.Replayed); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// prefixed returns the condition that col starts with prefix, as a range
// an index on col (byte order) serves.
func (s *Store) prefixed(q *selection, col, prefix string) string {
	col = s.bytewise(col)
	cond := col + " >= " + q.arg(prefix)
	if end, ok := prefixEnd(prefix); ok {
		cond = "(" + cond + " AND " + col + " < " + q.arg(end) + ")"
	}
	return cond
}

// prefixEnd returns the least string above every string that starts with
// prefix, in byte order (which is code point order for UTF-8): prefix
// with its last character incremented, after dropping trailing
// U+10FFFF. There is none for a prefix made only of U+10FFFF.
func prefixEnd(prefix string) (string, bool) {
	for prefix != "" {
		r, size := utf8.DecodeLastRuneInString(prefix)
		prefix = prefix[:len(prefix)-size]
		if r == utf8.MaxRune {
			continue
		}
		r++
		if r == 0xD800 { // surrogates are not characters
			r = 0xE000
		}
		return prefix + string(r), true
	}
	return "", false
}

// typeCondition adds the condition that the original type matches
// pattern. A type without wildcards is an equality, and "a.b.>" a range:
// both run on the type index. A pattern with '*' is resolved first to the
// types it matches among those parked.
func (s *Store) typeCondition(ctx context.Context, q *selection, pattern string, replayed bool) error {
	if err := eventbus.ValidatePattern(pattern); err != nil {
		return fmt.Errorf("%w: type: %w", ErrInvalidFilter, err)
	}
	col := s.bytewise("original_type")
	tokens := strings.Split(pattern, ".")
	wild := slices.IndexFunc(tokens, func(t string) bool { return t == "*" || t == ">" })
	if wild < 0 {
		q.where = append(q.where, col+" = "+q.arg(pattern))
		return nil
	}
	var prefix string // the literal tokens before the first wildcard
	if wild > 0 {
		prefix = strings.Join(tokens[:wild], ".") + "."
	}
	if tokens[wild] == ">" { // the last token: every type longer than the prefix
		if prefix != "" {
			end, _ := prefixEnd(prefix) // prefix ends in '.', which has a successor
			q.where = append(q.where, col+" > "+q.arg(prefix), col+" < "+q.arg(end))
		}
		return nil
	}
	types, err := s.matchingTypes(ctx, pattern, prefix, replayed)
	if err != nil {
		return err
	}
	if len(types) == 0 {
		q.where = append(q.where, "1 = 0")
		return nil
	}
	params := make([]string, len(types))
	for i, t := range types {
		params[i] = q.arg(t)
	}
	q.where = append(q.where, col+" IN ("+strings.Join(params, ", ")+")")
	return nil
}

// matchingTypes returns the distinct original types that start with
// prefix and match pattern. Among the entries never replayed it walks the
// type index from one type to the next (one index probe per distinct
// type, however many entries each has); with replayed ones included, which
// that index does not hold, it reads the types of every entry in the
// prefix's range.
func (s *Store) matchingTypes(ctx context.Context, pattern, prefix string, replayed bool) ([]string, error) {
	stmt, args := s.typesStatement(prefix, replayed)
	rows, err := s.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("dlq: types matching %s: %w", pattern, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("dlq: types matching %s: %w", pattern, err)
		}
		if eventbus.Match(pattern, t) {
			out = append(out, t)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dlq: types matching %s: %w", pattern, err)
	}
	return out, nil
}

// typesStatement is the statement of the distinct types that start with
// prefix, among the entries never replayed unless replayed is set.
func (s *Store) typesStatement(prefix string, replayed bool) (string, []any) {
	col := s.bytewise("original_type")
	r := &selection{}
	if !replayed {
		r.where = append(r.where, "replays = 0")
	}
	if prefix != "" {
		end, _ := prefixEnd(prefix)
		r.where = append(r.where, col+" >= "+r.arg(prefix), col+" < "+r.arg(end))
	}
	if replayed {
		return "SELECT DISTINCT original_type FROM " + s.table + r.clause(), r.args
	}
	// A loose index scan: each step is the least type above the last.
	next := "SELECT original_type FROM " + s.table + r.clause()
	return "WITH RECURSIVE types(t) AS (" +
		"SELECT (" + next + " ORDER BY " + col + " LIMIT 1)" +
		" UNION ALL SELECT (" + next + " AND " + col + " > types.t ORDER BY " + col + " LIMIT 1)" +
		" FROM types WHERE types.t IS NOT NULL" +
		") SELECT t FROM types WHERE t IS NOT NULL", r.args
}
