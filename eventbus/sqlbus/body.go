package sqlbus

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-microkit/microkit/eventbus"
)

// A message row of the table holds a pack: the messages of one publish
// statement, up to packBytes of them, in body. One row instead of one a
// message is what makes a publish cheap: a row's header, its index entry
// and its WAL record are paid once a pack, and PostgreSQL keeps a pack
// of this size in the row itself, uncompressed (toast_tuple_target).
// types lists the packed messages' types, in order, so that a claim can
// match them against a group's pattern without reading body.
const packBytes = 7000

// maxPackMessages bounds the messages of a pack: a claim records which of
// a pack's messages it still holds as the bits of a BIGINT.
const maxPackMessages = 64

// packVersion is the first byte of every body: the layout below.
//
//	body    = version message*
//	message = str(id) str(type) str(source) str(subject) str(content_type)
//	          str(metadata) varint(event_time) str(data)
//	str     = uvarint(length) bytes
const packVersion = 1

// errBadPack reports a body this package cannot read.
var errBadPack = errors.New("sqlbus: unreadable message row")

// pack is the rows of one table row, encoded.
type pack struct {
	n     int
	types []string
	body  []byte
}

// packRows splits rows into packs of at most packBytes each (a larger
// message has a pack of its own), in order.
func packRows(rows []row) []pack {
	var packs []pack
	var cur pack
	for _, r := range rows {
		size := r.size()
		if cur.n > 0 && (len(cur.body)+size > packBytes || cur.n == maxPackMessages) {
			packs = append(packs, cur)
			cur = pack{}
		}
		if cur.n == 0 {
			cur.body = make([]byte, 1, min(packBytes, size+1))
			cur.body[0] = packVersion
		}
		cur.body = r.appendTo(cur.body)
		cur.types = append(cur.types, r.typ)
		cur.n++
	}
	if cur.n > 0 {
		packs = append(packs, cur)
	}
	return packs
}

// size bounds the bytes appendTo adds.
func (r *row) size() int {
	return 7*binary.MaxVarintLen64 + len(r.id) + len(r.typ) + len(r.source) + len(r.subject) +
		len(r.contentType) + len(r.metadata) + len(r.data)
}

func (r *row) appendTo(b []byte) []byte {
	for _, s := range [...]string{r.id, r.typ, r.source, r.subject, r.contentType, r.metadata} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendVarint(b, r.eventTime)
	b = binary.AppendUvarint(b, uint64(len(r.data)))
	return append(b, r.data...)
}

// unpack decodes a body into its messages, in order. Each message's Data
// is a slice of body.
func unpack(body []byte) ([]row, error) {
	if len(body) == 0 || body[0] != packVersion {
		return nil, fmt.Errorf("%w: version %v", errBadPack, body[:min(len(body), 1)])
	}
	b := body[1:]
	var rows []row
	str := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, false
		}
		s := b[k : k+int(n) : k+int(n)]
		b = b[k+int(n):]
		return s, true
	}
	for len(b) > 0 {
		var r row
		var f [6][]byte
		for i := range f {
			s, ok := str()
			if !ok {
				return nil, errBadPack
			}
			f[i] = s
		}
		r.id, r.typ, r.source, r.subject, r.contentType, r.metadata =
			string(f[0]), string(f[1]), string(f[2]), string(f[3]), string(f[4]), string(f[5])
		t, k := binary.Varint(b)
		if k <= 0 {
			return nil, errBadPack
		}
		r.eventTime, b = t, b[k:]
		data, ok := str()
		if !ok {
			return nil, errBadPack
		}
		r.data = data
		rows = append(rows, r)
	}
	return rows, nil
}

// message is the row as an eventbus.Message.
func (r *row) message() (*eventbus.Message, error) {
	m := &eventbus.Message{ID: r.id, Type: r.typ, Source: r.source, Subject: r.subject,
		DataContentType: r.contentType, Data: r.data}
	if r.eventTime != 0 {
		m.Time = time.Unix(0, r.eventTime).UTC()
	}
	if r.metadata != "" {
		if err := json.Unmarshal([]byte(r.metadata), &m.Metadata); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// typeList is a pack's types as one string, separated by spaces, which a
// type cannot contain: PostgreSQL splits it into the types column.
func typeList(types []string) string { return strings.Join(types, " ") }
