package saga

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Cursor is a record's place in the order of a listing (see [Filter]):
// its creation time, then its ID among records created at the same
// instant. [Record.Cursor] gives a record's; [Filter].After continues a
// listing after it. A cursor names a place, not a record: it stays valid
// when its record changes or goes.
type Cursor struct {
	// CreatedAt is the record's CreatedAt.
	CreatedAt time.Time
	// ID is the record's ID.
	ID string
}

// Cursor returns the place of r in a listing's order, to pass as
// [Filter].After for the page that follows r.
func (r *Record) Cursor() Cursor {
	// Round(0) drops the monotonic clock reading: places compare by the
	// wall clock, the one every store keeps.
	return Cursor{CreatedAt: r.CreatedAt.Round(0), ID: r.ID}
}

// MarshalText encodes c as "<CreatedAt in Unix nanoseconds>:<ID>" (0 for
// the zero time), the form of the toolkit's other cursors, for a link to
// the next page. A time outside the years 1678 to 2262 does not fit.
func (c Cursor) MarshalText() ([]byte, error) {
	var nanos int64
	if !c.CreatedAt.IsZero() {
		nanos = c.CreatedAt.UnixNano()
	}
	return []byte(strconv.FormatInt(nanos, 10) + ":" + c.ID), nil
}

// UnmarshalText decodes what MarshalText encoded. Text that is no cursor
// gives an error wrapping ErrInvalidFilter.
func (c *Cursor) UnmarshalText(text []byte) error {
	nanos, id, ok := strings.Cut(string(text), ":")
	n, err := strconv.ParseInt(nanos, 10, 64)
	if !ok || err != nil || id == "" {
		return fmt.Errorf("%w: cursor %q: want <unix nanoseconds>:<ID>", ErrInvalidFilter, text)
	}
	c.CreatedAt, c.ID = time.Time{}, id
	if n != 0 {
		c.CreatedAt = time.Unix(0, n).UTC()
	}
	return nil
}

// Validate returns an error wrapping ErrInvalidFilter for a filter that
// no store runs: an IDPrefix, a WaitKey, or an After cursor's ID, that is not valid
// UTF-8 or holds a NUL (no ID can: SQL stores keep IDs as text). Each
// [Store.List] calls it first.
func (f *Filter) Validate() error {
	for _, s := range []struct{ what, text string }{{"id prefix", f.IDPrefix}, {"cursor id", afterID(f)}, {"wait key", f.WaitKey}} {
		if !utf8.ValidString(s.text) || strings.IndexByte(s.text, 0) >= 0 {
			return fmt.Errorf("%w: %s %q: want UTF-8 without NUL", ErrInvalidFilter, s.what, s.text)
		}
	}
	return nil
}

// afterID returns the ID of f's cursor, or "".
func afterID(f *Filter) string {
	if f.After == nil {
		return ""
	}
	return f.After.ID
}

// compare orders cursors as listings do, oldest first: by CreatedAt (wall
// clock), then by ID.
func (c Cursor) compare(d Cursor) int {
	if n := c.CreatedAt.Round(0).Compare(d.CreatedAt.Round(0)); n != 0 {
		return n
	}
	return strings.Compare(c.ID, d.ID)
}

// keeps reports whether f selects r, whose cursor is at.
func (f *Filter) keeps(r *Record, at Cursor) bool {
	switch {
	case len(f.Statuses) > 0 && !slices.Contains(f.Statuses, r.Status),
		f.Name != "" && r.Name != f.Name,
		!strings.HasPrefix(r.ID, f.IDPrefix),
		!f.UpdatedBefore.IsZero() && !r.UpdatedAt.Round(0).Before(f.UpdatedBefore.Round(0)),
		f.WaitKey != "" && r.WaitKey != f.WaitKey,
		!f.DueBy.IsZero() && (r.WakeAt.IsZero() || r.WakeAt.Round(0).After(f.DueBy.Round(0))):
		return false
	case f.After == nil:
		return true
	case f.Newest:
		return at.compare(*f.After) < 0
	default:
		return at.compare(*f.After) > 0
	}
}
