package saga

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
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

// cursorSep separates the time from the ID in a cursor's text; RFC 3339
// times never contain it.
const cursorSep = "/"

// MarshalText encodes c as its CreatedAt in RFC 3339 with nanoseconds, in
// UTC, a slash, then its ID ("2026-03-01T12:00:00.123456789Z/order-42"):
// the form to carry a cursor in a URL's query (escaped) or in JSON. It
// fails for a time whose year is outside 0 to 9999.
func (c Cursor) MarshalText() ([]byte, error) {
	b, err := c.CreatedAt.UTC().MarshalText()
	if err != nil {
		return nil, fmt.Errorf("saga: cursor: %w", err)
	}
	return append(append(b, cursorSep...), c.ID...), nil
}

// UnmarshalText decodes the text that [Cursor.MarshalText] returns.
func (c *Cursor) UnmarshalText(text []byte) error {
	at, id, ok := strings.Cut(string(text), cursorSep)
	if !ok {
		return fmt.Errorf("saga: cursor %q: %w", text, errNoCursorSep)
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return fmt.Errorf("saga: cursor %q: %w", text, err)
	}
	c.CreatedAt, c.ID = t.UTC(), id
	return nil
}

var errNoCursorSep = errors.New("no " + cursorSep + " between time and ID")

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
		!f.UpdatedBefore.IsZero() && !r.UpdatedAt.Round(0).Before(f.UpdatedBefore.Round(0)):
		return false
	case f.After == nil:
		return true
	case f.Newest:
		return at.compare(*f.After) < 0
	default:
		return at.compare(*f.After) > 0
	}
}
