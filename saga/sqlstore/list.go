package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/saga"
	"github.com/go-microkit/microkit/sqldialect"
)

// List implements [saga.Store] with one SELECT, which the indexes of
// [Schema] serve: a page of a large table reads about as many rows as it
// returns (see Schema for which filters are indexed). A listing orders IDs
// byte by byte, like Go strings, whatever the id column's collation.
func (s *Store) List(ctx context.Context, f saga.Filter) ([]*saga.Record, error) {
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("sqlstore: list: %w", err)
	}
	query, args := s.listQuery(f)
	rows, err := s.querier(ctx).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list: %w", err)
	}
	defer rows.Close()
	var out []*saga.Record
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list: %w", err)
	}
	return out, nil
}

// idBytewise is the id column compared byte by byte: PostgreSQL compares
// text by the column's collation unless told otherwise, SQLite by bytes
// (its default BINARY collation).
func idBytewise(d sqldialect.Dialect) string {
	if d == sqldialect.Postgres {
		return `id COLLATE "C"`
	}
	return "id"
}

// listQuery returns List's statement for f and its arguments.
func (s *Store) listQuery(f saga.Filter) (string, []any) {
	b := listBuilder{dialect: s.dialect}
	b.q.WriteString(s.list)
	if len(f.Statuses) > 0 {
		status := "status IN ("
		if s.dialect == sqldialect.SQLite && (f.WaitKey != "" || !f.DueBy.IsZero() || f.Signalled) {
			// The waiting sagas' listings seek a partial index of their
			// own; SQLite without statistics (no ANALYZE) would rather
			// walk every waiting saga in the status index, which the
			// unary + keeps it from using.
			status = "+" + status
		}
		b.and(status)
		for i, st := range f.Statuses {
			if i > 0 {
				b.q.WriteString(", ")
			}
			b.arg(string(st))
		}
		b.q.WriteString(")")
	}
	if f.Name != "" {
		b.and("name = ")
		b.arg(f.Name)
	}
	if f.IDPrefix != "" {
		// A range of the primary key rather than LIKE, which has
		// wildcards to escape and uses no index under most collations.
		b.and(s.idExpr + " >= ")
		b.arg(f.IDPrefix)
		if end, ok := prefixEnd(f.IDPrefix, s.dialect == sqldialect.Postgres); ok {
			b.and(s.idExpr + " < ")
			b.arg(end)
		}
	}
	if f.WaitKey != "" {
		// The partial index's condition, spelled as it is, for the
		// planner to use the index with a parameter.
		b.and("wait_key <> '' AND wait_key = ")
		b.arg(f.WaitKey)
	}
	if !f.DueBy.IsZero() {
		b.and("wake_at > 0 AND wake_at <= ")
		b.arg(unixNano(f.DueBy))
	}
	if f.Signalled {
		// Driven from the pending signals (in a partial index of their
		// own), each probing the index of wait keys. PostgreSQL would
		// hash-join an IN (subquery) against a scan of the table: an
		// array, computed once, makes it probe the index instead.
		pending := "SELECT key FROM " + s.table + "_signals WHERE saga_id = '' AND timed_out = 0"
		if s.dialect == sqldialect.Postgres {
			b.and("wait_key <> '' AND wait_key = ANY (ARRAY(" + pending + "))")
		} else {
			b.and("wait_key <> '' AND wait_key IN (" + pending + ")")
		}
	}
	if !f.UpdatedBefore.IsZero() {
		b.and("updated_at < ")
		b.arg(unixNano(f.UpdatedBefore))
	}
	order := ""
	if f.Newest {
		order = " DESC"
	}
	if f.After != nil {
		// One row comparison: both databases seek an index on created_at
		// to it, where the expanded OR form would scan.
		op := " > ("
		if f.Newest {
			op = " < ("
		}
		b.and("(created_at, " + s.idExpr + ")" + op)
		b.arg(unixNano(f.After.CreatedAt))
		b.q.WriteString(", ")
		b.arg(f.After.ID)
		b.q.WriteString(")")
	}
	b.q.WriteString(" ORDER BY created_at" + order + ", " + s.idExpr + order)
	if f.Limit > 0 {
		// A literal, not a parameter: PostgreSQL plans for the page's size.
		fmt.Fprintf(&b.q, " LIMIT %d", f.Limit)
	}
	return b.q.String(), b.args
}

// listBuilder writes a statement's conditions and collects their
// arguments.
type listBuilder struct {
	dialect sqldialect.Dialect
	q       strings.Builder
	args    []any
	conds   int
}

// and starts the next condition with text.
func (b *listBuilder) and(text string) {
	if b.conds == 0 {
		b.q.WriteString(" WHERE ")
	} else {
		b.q.WriteString(" AND ")
	}
	b.conds++
	b.q.WriteString(text)
}

// arg writes the placeholder of the next argument, v.
func (b *listBuilder) arg(v any) {
	b.args = append(b.args, v)
	b.q.WriteString(sqldb.Placeholder(b.dialect, len(b.args)))
}

// prefixEnd returns the least string greater, byte by byte, than every
// string that starts with p, and false when there is none (p is empty or
// only its largest symbols). With text, and a p of valid UTF-8, the bound
// is valid UTF-8 too, as a PostgreSQL text parameter must be: it is p with
// its last code point incremented, which in UTF-8's byte order bounds the
// same strings. Without text, it is p with its last byte incremented.
func prefixEnd(p string, text bool) (string, bool) {
	if text && utf8.ValidString(p) {
		for p != "" {
			r, n := utf8.DecodeLastRuneInString(p)
			p = p[:len(p)-n]
			switch {
			case r == 0xD7FF: // the surrogates that follow are not code points
				return p + "\uE000", true
			case r < utf8.MaxRune:
				return p + string(r+1), true
			}
		}
		return "", false
	}
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xFF {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}
