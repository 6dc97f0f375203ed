package sqlbus

import (
	"strconv"
	"strings"

	"github.com/go-microkit/microkit/sqldialect"
)

// statements holds the SQL texts of one bus, built once from its table and
// dialect. Both dialects accept $n bind parameters.
type statements struct {
	// publish inserts messages and their deliveries (PostgreSQL: in one
	// statement from arrays, and notifies; SQLite: the messages, see
	// insertRows, then fanOut).
	publish   string
	publishTx string
	notify    string
	fanOut    string
	// claim takes up to $3 visible deliveries of group $1 at time $2 from
	// seq $5 on, leasing them until $4 (SQLite: claimSeqs, then the
	// messages by seq).
	claim     string
	claimSeqs string
	// ack deletes deliveries (PostgreSQL: from arrays; SQLite: one).
	ack      string
	nack     string
	renew    string
	release  string
	subGroup string
	// prune statements; see Prune.
	pruneConsumed      string
	pruneOldDeliveries string
	pruneOld           string
	groupID            string
	deleteGroupRows    string
	deleteGroup        string
}

// messageCols are the message columns a claim reads, in scan order.
const messageCols = "m.id, m.type, m.source, m.subject, m.event_time, m.content_type, m.data, m.metadata"

// matchGroup is the condition under which message m has a delivery for
// group g: its type is LIKE the group's pattern and has as many tokens as
// the pattern allows. It may match more than the pattern does (see
// likePattern); claims check each delivery with eventbus.Match.
const matchGroup = `m.type LIKE g.type_like ESCAPE '\' AND length(m.type) - length(replace(m.type, '.', '')) BETWEEN g.min_dots AND g.max_dots`

// asyncCommit is a common table expression that turns synchronous_commit
// off for the statement's own transaction on PostgreSQL (set_config with
// is_local), so that its commit does not wait for the WAL to reach the
// disk: claims, acks, nacks and releases, whose loss in a crash of the
// server means only redeliveries, cost a round trip instead of a disk
// flush each (on a disk whose flush takes milliseconds, ten times more).
// Publishes keep the server's setting: they are durable when they return.
// The statement must reference it (as "async") for it to be evaluated.
const asyncCommit = `async AS (SELECT set_config('synchronous_commit', 'off', true))`

// pruneBatch bounds the messages one prune statement deletes.
const pruneBatch = 1000

func newStatements(d sqldialect.Dialect, t string) statements {
	deliveries, groups := t+"_deliveries", t+"_groups"
	s := statements{
		fanOut: `INSERT INTO ` + deliveries + ` (group_id, seq, attempts, visible_at)
SELECT g.id, m.seq, 0, 0 FROM ` + t + ` m JOIN ` + groups + ` g ON ` + matchGroup + ` WHERE m.seq BETWEEN $1 AND $2`,
		nack:    `UPDATE ` + deliveries + ` SET visible_at = $4 WHERE group_id = $1 AND seq = $2 AND attempts = $3`,
		renew:   `UPDATE ` + deliveries + ` SET visible_at = $4 WHERE group_id = $1 AND seq = $2 AND attempts = $3`,
		release: `UPDATE ` + deliveries + ` SET visible_at = 0, attempts = attempts - $4 WHERE group_id = $1 AND seq = $2 AND attempts = $3`,
		subGroup: `INSERT INTO ` + groups + ` (name, pattern, type_like, min_dots, max_dots, created_at) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (name, pattern) DO UPDATE SET type_like = excluded.type_like, min_dots = excluded.min_dots, max_dots = excluded.max_dots
RETURNING id`,
		// The group's rows are looked up through the deliveries' primary
		// key (group_id, seq), one probe per group.
		pruneConsumed: `DELETE FROM ` + t + ` WHERE seq IN (SELECT m.seq FROM ` + t + ` m WHERE m.created_at < $1
AND NOT EXISTS (SELECT 1 FROM ` + groups + ` g JOIN ` + deliveries + ` d ON d.group_id = g.id AND d.seq = m.seq)
ORDER BY m.seq LIMIT ` + strconv.Itoa(pruneBatch) + `)`,
		// The oldest messages come first in seq order: the window of the
		// next pruneBatch of them bounds the scan. Messages first, so that
		// the transaction writes before it reads (on SQLite a transaction
		// that reads first cannot always write).
		pruneOld: `DELETE FROM ` + t + ` WHERE seq <= (SELECT COALESCE(MAX(h.seq), 0) FROM (SELECT seq, created_at FROM ` + t +
			` ORDER BY seq LIMIT ` + strconv.Itoa(pruneBatch) + `) h WHERE h.created_at < $1) RETURNING seq`,
		pruneOldDeliveries: `DELETE FROM ` + deliveries + ` WHERE group_id IN (SELECT id FROM ` + groups + `) AND seq <= $1`,
		groupID:            `SELECT id FROM ` + groups + ` WHERE name = $1 AND pattern = $2`,
		deleteGroupRows:    `DELETE FROM ` + deliveries + ` WHERE group_id = $1`,
		deleteGroup:        `DELETE FROM ` + groups + ` WHERE id = $1`,
	}
	if d == sqldialect.Postgres {
		// One statement, one round trip: the messages from arrays (one
		// prepared statement whatever the batch's size) and a delivery
		// per matching group.
		s.publish = `WITH m AS (
	INSERT INTO ` + t + ` (id, type, source, subject, event_time, content_type, data, metadata, created_at)
	SELECT u.*, $9::BIGINT FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[], $6::TEXT[], $7::BYTEA[], $8::TEXT[]) AS u
	RETURNING seq, type
), d AS (
	INSERT INTO ` + deliveries + ` (group_id, seq, attempts, visible_at)
	SELECT g.id, m.seq, 0, 0 FROM m JOIN ` + groups + ` g ON ` + matchGroup + `
	RETURNING 1
)
SELECT count(*) FROM d`
		// PublishTx notifies in the caller's transaction, so that the
		// commit wakes the listeners. A transaction that notifies holds a
		// lock that serializes the commits of all such transactions, disk
		// flush included, so Publish notifies after its commit instead,
		// in a transaction of its own (notify).
		s.publishTx = strings.Replace(s.publish, "SELECT count(*) FROM d",
			"SELECT pg_notify('"+t+"', '') WHERE EXISTS (SELECT 1 FROM d)", 1)
		s.notify = `WITH ` + asyncCommit + ` SELECT pg_notify('` + t + `', '') FROM async`
		// Claim and fetch in one statement: SKIP LOCKED lets the
		// instances of a group claim side by side, each taking rows the
		// others have not locked.
		s.claim = `WITH ` + asyncCommit + `, c AS (
	SELECT seq FROM ` + deliveries + ` WHERE group_id = $1 AND seq >= $5 AND visible_at <= $2 ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED
), u AS (
	UPDATE ` + deliveries + ` d SET attempts = d.attempts + 1, visible_at = $4 FROM c WHERE d.group_id = $1 AND d.seq = c.seq
	RETURNING d.seq, d.attempts
)
SELECT u.seq, u.attempts, ` + messageCols + ` FROM async, u JOIN ` + t + ` m ON m.seq = u.seq ORDER BY u.seq`
		s.ack = `WITH ` + asyncCommit + `
DELETE FROM ` + deliveries + ` d USING unnest($1::BIGINT[], $2::BIGINT[], $3::INT[]) AS x(g, s, a), async
WHERE d.group_id = x.g AND d.seq = x.s AND d.attempts = x.a RETURNING d.group_id, d.seq`
		s.nack = `WITH ` + asyncCommit + `
UPDATE ` + deliveries + ` SET visible_at = $4 FROM async WHERE group_id = $1 AND seq = $2 AND attempts = $3`
		s.renew = `WITH ` + asyncCommit + `
UPDATE ` + deliveries + ` SET visible_at = $4 FROM async WHERE group_id = $1 AND seq = $2 AND attempts = $3`
		s.release = `WITH ` + asyncCommit + `
UPDATE ` + deliveries + ` SET visible_at = 0, attempts = attempts - $4 FROM async WHERE group_id = $1 AND seq = $2 AND attempts = $3`
		return s
	}
	// SQLite has one writer: a claim in a transaction is atomic without
	// row locks.
	s.claimSeqs = `UPDATE ` + deliveries + ` SET attempts = attempts + 1, visible_at = $4
WHERE group_id = $1 AND seq IN (SELECT seq FROM ` + deliveries + ` WHERE group_id = $1 AND seq >= $5 AND visible_at <= $2 ORDER BY seq LIMIT $3)
RETURNING seq, attempts`
	s.claim = `SELECT m.seq, ` + messageCols + ` FROM ` + t + ` m WHERE m.seq IN `
	s.ack = `DELETE FROM ` + deliveries + ` WHERE group_id = $1 AND seq = $2 AND attempts = $3`
	return s
}

// insertRows returns SQLite's INSERT of n messages (9 parameters each),
// returning their seq.
func insertRows(t string, n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO ` + t + ` (id, type, source, subject, event_time, content_type, data, metadata, created_at) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range 9 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(i*9 + j + 1))
		}
		b.WriteByte(')')
	}
	b.WriteString(` RETURNING seq`)
	return b.String()
}

// inList returns "($1, $2, ..., $n)".
func inList(n int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(i + 1))
	}
	b.WriteByte(')')
	return b.String()
}

// likePattern translates a subscription pattern into a LIKE expression
// (escape character '\') and the range of '.' counts a matching type has.
// "*" and ">" become "%"; the token counts make "%" stand for one token
// in a pattern without ">". With ">" after a "*" the expression may match
// more than the pattern ("*.b.>" matches "x.y.b.z", since "%" then may
// span tokens), and SQLite's LIKE ignores ASCII case: such deliveries are
// created, and dropped at the claim, which checks eventbus.Match.
func likePattern(pattern string) (like string, minDots, maxDots int) {
	var b strings.Builder
	tokens := strings.Split(pattern, ".")
	for i, tok := range tokens {
		if i > 0 {
			b.WriteByte('.')
		}
		switch tok {
		case "*", ">":
			b.WriteByte('%')
		default:
			for j := 0; j < len(tok); j++ {
				if c := tok[j]; c == '%' || c == '_' || c == '\\' {
					b.WriteByte('\\')
				}
				b.WriteByte(tok[j])
			}
		}
	}
	minDots = len(tokens) - 1
	maxDots = minDots
	if tokens[len(tokens)-1] == ">" {
		maxDots = maxTypeDots
	}
	return b.String(), minDots, maxDots
}

// maxTypeDots is more dots than a valid type (at most 255 bytes) has.
const maxTypeDots = 255
