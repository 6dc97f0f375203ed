package sqlbus

import (
	"strconv"
	"strings"

	"github.com/go-microkit/microkit/sqldialect"
)

// statements holds the SQL texts of one bus, built once from its table and
// dialect. Both dialects accept $n bind parameters.
type statements struct {
	// publish inserts packs (PostgreSQL: from arrays; SQLite: see
	// insertRows); publishTx also notifies (PostgreSQL).
	publish    string
	publishOne string
	publishTx  string
	notify     string
	// claimNew claims messages of packs after the group's cursor (see
	// claimNewPostgres); claimOld claims visible rows of deliveries, from
	// seq $5 on (SQLite: claimOld selects them, updateClaim claims each,
	// readPacks reads their packs).
	claimNew    [len(packLimits)]string // by pack limit, see packLimit
	claimOld    string
	readPacks   string
	updateClaim string
	// SQLite's claimNew in steps: lock the group, read its packs,
	// record the claims (insertDeliveries), move the cursor.
	lockGroup  string
	readNew    string
	moveCursor string
	// ack settles messages (PostgreSQL: from arrays, see ackPostgres;
	// SQLite: ack deletes a row, ackBit clears a message of a claim,
	// deleteEmpty deletes the claim once none is left).
	ack         string
	ackBit      string
	deleteEmpty string
	// setVisible sets the visible_at of a row (nack, renew); release
	// makes a message's own row visible at once; split moves a message
	// out of its claim into a row of its own (PostgreSQL: one statement;
	// SQLite: ackBit, deleteEmpty, insertOne).
	setVisible string
	release    string
	split      string
	insertOne  string
	subGroup   string
	// prune statements; see Prune.
	pruneMarkers       string
	pruneConsumed      string
	pruneOldDeliveries string
	pruneOld           string
	deleteGroupRows    string
	deleteGroup        string
}

// asyncCommit is a common table expression that turns synchronous_commit
// off for the statement's own transaction on PostgreSQL (set_config with
// is_local), so that its commit does not wait for the WAL to reach the
// disk: claims, acks, nacks and releases, whose loss in a crash of the
// server means only redeliveries, cost a round trip instead of a disk
// flush each (on a disk whose flush takes milliseconds, ten times more).
// Publishes keep the server's setting: they are durable when they return.
// The statement must reference it (as "async") for it to be evaluated.
const asyncCommit = `async AS (SELECT set_config('synchronous_commit', 'off', true))`

// pruneBatch bounds the packs one prune statement deletes.
const pruneBatch = 1000

// notVisible is the visible_at of a marker: never claimed.
const notVisible = "9223372036854775807"

func newStatements(d sqldialect.Dialect, t string) statements {
	deliveries, groups := t+"_deliveries", t+"_groups"
	s := statements{
		setVisible:      `UPDATE ` + deliveries + ` SET visible_at = $5 WHERE group_id = $1 AND seq = $2 AND idx = $3 AND attempts = $4 AND mask & $6 = $6`,
		release:         `UPDATE ` + deliveries + ` SET visible_at = 0, attempts = attempts - $5 WHERE group_id = $1 AND seq = $2 AND idx = $3 AND attempts = $4`,
		deleteGroupRows: `DELETE FROM ` + deliveries + ` WHERE group_id IN (SELECT id FROM ` + groups + ` WHERE name = $1 AND pattern = $2)`,
		deleteGroup:     `DELETE FROM ` + groups + ` WHERE name = $1 AND pattern = $2`,
		// A marker is needed while its pack is ahead of the cursor only.
		pruneMarkers: `DELETE FROM ` + deliveries + ` WHERE idx = -1 AND EXISTS (SELECT 1 FROM ` + groups + ` g
WHERE g.id = ` + deliveries + `.group_id AND (` + deliveries + `.tx < g.cur_tx OR (` + deliveries + `.tx = g.cur_tx AND ` + deliveries + `.seq <= g.cur_seq)))`,
		// The oldest packs come first: the window of the next pruneBatch
		// of them bounds the scan.
		pruneOld: `DELETE FROM ` + t + ` WHERE (tx, seq) IN (SELECT h.tx, h.seq FROM (SELECT tx, seq, created_at FROM ` + t +
			` ORDER BY tx, seq LIMIT ` + strconv.Itoa(pruneBatch) + `) h WHERE h.created_at < $1) RETURNING seq, n`,
	}
	// A pack is consumed by a group whose cursor passed it, or that
	// claimed it ahead of the cursor (its marker), and that has no
	// delivery left in it; a group that matches none of its types, or
	// registered after it committed, does not hold it.
	held := `(g.cur_tx < m.tx OR (g.cur_tx = m.tx AND g.cur_seq < m.seq))
	AND NOT EXISTS (SELECT 1 FROM ` + deliveries + ` k WHERE k.group_id = g.id AND k.seq = m.seq AND k.idx = -1)`
	if d == sqldialect.Postgres {
		s.subGroup = `INSERT INTO ` + groups + ` (name, pattern, type_like, min_dots, max_dots, created_at, cur_tx, cur_seq, snap)
SELECT $1, $2, $3, $4, $5, $6, txid_snapshot_xmin(txid_current_snapshot()), 0, txid_current_snapshot()
ON CONFLICT (name, pattern) DO UPDATE SET type_like = excluded.type_like, min_dots = excluded.min_dots, max_dots = excluded.max_dots
RETURNING id`
		s.pruneConsumed = `DELETE FROM ` + t + ` WHERE (tx, seq) IN (SELECT m.tx, m.seq FROM ` + t + ` m WHERE m.created_at < $1
AND NOT EXISTS (SELECT 1 FROM ` + groups + ` g WHERE ` + held + ` AND (g.snap IS NULL OR NOT txid_visible_in_snapshot(m.tx, g.snap))
	AND EXISTS (SELECT 1 FROM unnest(m.types) AS y(type) WHERE ` + matchType("y.type") + `))
AND NOT EXISTS (SELECT 1 FROM ` + groups + ` g JOIN ` + deliveries + ` d ON d.group_id = g.id AND d.seq = m.seq AND d.idx <> -1)
ORDER BY m.tx, m.seq LIMIT ` + strconv.Itoa(pruneBatch) + `) RETURNING seq, n`
		s.pruneOldDeliveries = `DELETE FROM ` + deliveries + ` WHERE group_id IN (SELECT id FROM ` + groups + `) AND seq = ANY($1::BIGINT[])`
		// One statement, one round trip: the packs from arrays (one
		// prepared statement whatever the batch's size).
		s.publish = `INSERT INTO ` + t + ` (n, types, body, created_at)
SELECT u.n, string_to_array(u.types, ' '), u.body, $4 FROM unnest($1::INT[], $2::TEXT[], $3::BYTEA[]) AS u(n, types, body)`
		// PublishTx notifies in the caller's transaction, so that the
		// commit wakes the listeners. A transaction that notifies holds a
		// lock that serializes the commits of all such transactions, disk
		// flush included, so Publish notifies after its commit instead,
		// in a transaction of its own (notify).
		// One pack (concurrent single-message publishes) needs no arrays.
		s.publishOne = `INSERT INTO ` + t + ` (n, types, body, created_at) VALUES ($1, $2, $3, $4)`
		s.publishTx = `WITH m AS (` + s.publish + ` RETURNING 1) SELECT pg_notify('` + t + `', '') WHERE EXISTS (SELECT 1 FROM m)`
		s.notify = `WITH ` + asyncCommit + ` SELECT pg_notify('` + t + `', '') FROM async`
		for i, limit := range packLimits {
			s.claimNew[i] = claimNewPostgres(t, groups, deliveries, limit)
		}
		// SKIP LOCKED lets the instances of a group claim side by side,
		// each taking rows the others have not locked. The rows locked
		// beyond the $3 messages are not claimed.
		// The last claim row taken is split if it holds more than $6
		// messages: the claim keeps its first ones, the rest goes to a
		// new row, visible (its key is its first message's: see
		// claimNewPostgres).
		s.claimOld = `WITH ` + asyncCommit + `, c0 AS (
	SELECT seq, idx, tx, attempts, n, mask FROM ` + deliveries + ` WHERE group_id = $1 AND seq >= $5 AND visible_at <= $2 ORDER BY seq, idx LIMIT $3 FOR UPDATE SKIP LOCKED
), c1 AS (
	SELECT c0.*, sum(n) OVER (ORDER BY seq, idx ROWS UNBOUNDED PRECEDING) - n AS before FROM c0
), c AS (
	SELECT seq, idx, tx, attempts, n, mask, least(n, $6::BIGINT - before) AS k,
		CASE WHEN idx <= -2 AND n > $6::BIGINT - before THEN (SELECT bit_or(1::BIGINT << z.b) FROM (
			SELECT b FROM generate_series(0, 63) AS b WHERE mask & (1::BIGINT << b) <> 0 ORDER BY b LIMIT $6::BIGINT - before) z)
		ELSE mask END AS keep
	FROM c1 WHERE before < $3
), rest AS (
	INSERT INTO ` + deliveries + ` (group_id, seq, idx, tx, attempts, visible_at, mask, n)
	SELECT $1, c.seq, -2 - (SELECT min(b) FROM generate_series(0, 63) AS b WHERE c.mask & ~c.keep & (1::BIGINT << b) <> 0),
		c.tx, c.attempts, 0, c.mask & ~c.keep, c.n - c.k
	FROM c WHERE c.keep <> c.mask
	RETURNING 1
), u AS (
	UPDATE ` + deliveries + ` d SET attempts = d.attempts + 1, visible_at = $4, mask = c.keep, n = c.k FROM c
	WHERE d.group_id = $1 AND d.seq = c.seq AND d.idx = c.idx
	RETURNING d.tx, d.seq, d.idx, d.attempts, d.mask
)
SELECT u.seq, u.idx, u.attempts, u.mask, m.body FROM async, u JOIN ` + t + ` m ON m.tx = u.tx AND m.seq = u.seq ORDER BY u.seq, u.idx`
		// A message's own row (i >= 0, m 0) and a claim whose last
		// messages are acked (m its mask) are deleted; a claim that keeps
		// some loses the bits acked.
		s.ack = `WITH ` + asyncCommit + `,
x AS (SELECT * FROM unnest($1::BIGINT[], $2::BIGINT[], $3::INT[], $4::INT[], $5::BIGINT[], $6::INT[]) AS x(g, s, i, a, m, c)),
del AS (
	DELETE FROM ` + deliveries + ` d USING x, async
	WHERE d.group_id = x.g AND d.seq = x.s AND d.idx = x.i AND d.attempts = x.a AND d.mask = x.m
	RETURNING x.g, x.s, x.i, x.a
), upd AS (
	UPDATE ` + deliveries + ` d SET mask = d.mask & ~x.m, n = d.n - x.c FROM x
	WHERE d.group_id = x.g AND d.seq = x.s AND d.idx = x.i AND d.attempts = x.a AND x.i <= -2 AND d.mask <> x.m AND d.mask & x.m = x.m
	RETURNING x.g, x.s, x.i, x.a
)
SELECT * FROM del UNION ALL SELECT * FROM upd`
		s.split = `WITH ` + asyncCommit + `,
del AS (
	DELETE FROM ` + deliveries + ` WHERE group_id = $1 AND seq = $2 AND idx = $8::INT AND attempts = $4::INT AND mask = $6::BIGINT RETURNING tx
), upd AS (
	UPDATE ` + deliveries + ` SET mask = mask & ~$6::BIGINT, n = n - 1
	WHERE group_id = $1 AND seq = $2 AND idx = $8::INT AND attempts = $4::INT AND mask <> $6::BIGINT AND mask & $6::BIGINT = $6::BIGINT RETURNING tx
)
INSERT INTO ` + deliveries + ` (group_id, seq, idx, tx, attempts, visible_at, mask, n)
SELECT $1, $2, $3::INT, w.tx, $4::INT - $7::INT, $5::BIGINT, 0, 1 FROM async, (SELECT tx FROM del UNION ALL SELECT tx FROM upd) w`
		for _, p := range []*string{&s.setVisible, &s.release} {
			*p = `WITH ` + asyncCommit + ` ` + strings.Replace(*p, " WHERE ", " FROM async WHERE ", 1)
		}
		return s
	}
	// SQLite has one writer, so commit order is seq order: every pack a
	// claim can see after the cursor is final, and a new group starts
	// after the last pack.
	s.subGroup = `INSERT INTO ` + groups + ` (name, pattern, type_like, min_dots, max_dots, created_at, cur_tx, cur_seq)
SELECT $1, $2, $3, $4, $5, $6, 0, COALESCE((SELECT MAX(seq) FROM ` + t + `), 0)
ON CONFLICT (name, pattern) DO UPDATE SET type_like = excluded.type_like, min_dots = excluded.min_dots, max_dots = excluded.max_dots
RETURNING id`
	s.pruneConsumed = `DELETE FROM ` + t + ` WHERE seq IN (SELECT m.seq FROM ` + t + ` m WHERE m.created_at < $1
AND NOT EXISTS (SELECT 1 FROM ` + groups + ` g WHERE ` + held + `
	AND EXISTS (SELECT 1 FROM json_each(m.types) AS y WHERE ` + matchType("y.value") + `))
AND NOT EXISTS (SELECT 1 FROM ` + groups + ` g JOIN ` + deliveries + ` d ON d.group_id = g.id AND d.seq = m.seq AND d.idx <> -1)
ORDER BY m.seq LIMIT ` + strconv.Itoa(pruneBatch) + `) RETURNING seq, n`
	s.pruneOld = `DELETE FROM ` + t + ` WHERE seq IN (SELECT h.seq FROM (SELECT seq, created_at FROM ` + t +
		` ORDER BY seq LIMIT ` + strconv.Itoa(pruneBatch) + `) h WHERE h.created_at < $1) RETURNING seq, n`
	s.pruneOldDeliveries = `DELETE FROM ` + deliveries + ` WHERE group_id IN (SELECT id FROM ` + groups + `) AND seq IN (SELECT value FROM json_each($1))`
	s.lockGroup = `UPDATE ` + groups + ` SET cur_seq = cur_seq WHERE id = $1 RETURNING cur_seq`
	s.readNew = `SELECT seq, n, types, body FROM ` + t + ` WHERE seq > $1 ORDER BY seq LIMIT $2`
	s.moveCursor = `UPDATE ` + groups + ` SET cur_seq = $2 WHERE id = $1`
	s.claimOld = `SELECT seq, idx, tx, attempts, mask FROM ` + deliveries + `
WHERE group_id = $1 AND seq >= $4 AND visible_at <= $2 ORDER BY seq, idx LIMIT $3`
	s.updateClaim = `UPDATE ` + deliveries + ` SET attempts = attempts + 1, visible_at = $4, mask = $5, n = $6 WHERE group_id = $1 AND seq = $2 AND idx = $3`
	s.readPacks = `SELECT seq, body FROM ` + t + ` WHERE seq IN (SELECT value FROM json_each($1))`
	s.ack = `DELETE FROM ` + deliveries + ` WHERE group_id = $1 AND seq = $2 AND idx = $3 AND attempts = $4`
	s.ackBit = `UPDATE ` + deliveries + ` SET mask = mask & ~$5, n = n - 1
WHERE group_id = $1 AND seq = $2 AND idx = $3 AND attempts = $4 AND mask & $5 = $5 RETURNING tx, mask`
	s.deleteEmpty = `DELETE FROM ` + deliveries + ` WHERE group_id = $1 AND seq = $2 AND idx = $3 AND mask = 0`
	s.insertOne = `INSERT INTO ` + deliveries + ` (group_id, seq, idx, tx, attempts, visible_at, mask, n) VALUES ($1, $2, $3, $4, $5, $6, 0, 1)`
	return s
}

// matchType is the condition under which the type in column c may match
// group g's pattern: it is LIKE the pattern and has as many tokens as the
// pattern allows. It may match more than the pattern does (see
// likePattern): claims check each message with eventbus.Match.
func matchType(c string) string {
	return c + ` LIKE g.type_like ESCAPE '\' AND length(` + c + `) - length(replace(` + c + `, '.', '')) BETWEEN g.min_dots AND g.max_dots`
}

// claimNewPostgres is the statement that claims new messages for group $1:
// those of the packs after the group's cursor, as many packs as it takes
// to reach $2 messages, at most limit packs, invisible to the group's
// other instances until $3. It claims up to $4 messages of them (at
// least $2: the rest of the last pack if there is room); a claim row (idx
// -2 minus its first message's index) holds them, a second one the rest
// of the last pack, visible to any instance. It returns the number of
// packs it read, with the claim rows if any: seq, idx, mask and the
// pack's body. The limit is a constant of the text, so that PostgreSQL
// plans the prepared statement once (a parameter in LIMIT makes it plan
// every execution, which costs more than the execution).
//
// The packs are read in (tx, seq) order from the group's cursor. A pack
// whose tx is below the oldest transaction running (the snapshot's xmin)
// is final: nothing can commit before it in that order any more, so the
// cursor moves over the final packs the claim covered. A pack committed
// ahead of a transaction still running is claimed too, so that nothing
// waits for a slow transaction, but the cursor stays: a marker (idx -1)
// records that the group has it. The group's row is locked with SKIP
// LOCKED: instances of the group do not wait for each other; one that
// finds it locked claims nothing new this time. One that locks it just
// after another's claim committed has the new cursor but may not see the
// other's markers: it claims a pack ahead of the cursor only if it could
// insert the pack's marker, and the rest of a pack only with its claim.
func claimNewPostgres(t, groups, deliveries string, limit int) string {
	return `WITH ` + asyncCommit + `,
g AS (SELECT cur_tx, cur_seq, snap, type_like, min_dots, max_dots FROM ` + groups + ` WHERE id = $1::BIGINT FOR UPDATE SKIP LOCKED),
x AS (SELECT txid_snapshot_xmin(txid_current_snapshot()) AS xmin),
r0 AS (
	SELECT m.tx, m.seq, m.n, m.types, m.tx < x.xmin AS final FROM g, x, ` + t + ` m
	WHERE (m.tx, m.seq) > (g.cur_tx, g.cur_seq)
	AND NOT EXISTS (SELECT 1 FROM ` + deliveries + ` d WHERE d.group_id = $1 AND d.seq = m.seq AND d.idx = -1)
	ORDER BY m.tx, m.seq LIMIT ` + strconv.Itoa(limit) + `
), r1 AS (
	SELECT r0.*, sum(n) OVER (ORDER BY tx, seq ROWS UNBOUNDED PRECEDING) - n < $2::BIGINT AS taken FROM r0
), r AS (
	SELECT r1.*, bool_and(final AND taken) OVER (ORDER BY tx, seq ROWS UNBOUNDED PRECEDING) AS passed FROM r1
), e AS (
	SELECT r.tx, r.seq, r.final, i.i - 1 AS idx, row_number() OVER (ORDER BY r.tx, r.seq, i.i) <= $4::BIGINT AS claimed
	FROM r, g, generate_subscripts(r.types, 1) AS i(i)
	WHERE r.taken AND ` + matchType("r.types[i.i]") + `
	AND (g.snap IS NULL OR NOT txid_visible_in_snapshot(r.tx, g.snap))
), mk AS (
	INSERT INTO ` + deliveries + ` (group_id, seq, idx, tx, attempts, visible_at, mask, n)
	SELECT $1, seq, -1, tx, 0, ` + notVisible + `, 0, 0 FROM r WHERE taken AND NOT final
	ON CONFLICT DO NOTHING
	RETURNING seq
), ins AS (
	INSERT INTO ` + deliveries + ` (group_id, seq, idx, tx, attempts, visible_at, mask, n)
	SELECT $1, seq, -2 - min(idx), tx, 1, $3::BIGINT, bit_or(1::BIGINT << idx), count(*)
	FROM e WHERE claimed AND (final OR seq IN (SELECT seq FROM mk)) GROUP BY tx, seq
	ON CONFLICT DO NOTHING
	RETURNING tx, seq, idx, attempts, mask
), rest AS (
	INSERT INTO ` + deliveries + ` (group_id, seq, idx, tx, attempts, visible_at, mask, n)
	SELECT $1, seq, -2 - min(idx), tx, 0, 0, bit_or(1::BIGINT << idx), count(*)
	FROM e WHERE NOT claimed AND seq IN (SELECT seq FROM ins) GROUP BY tx, seq
	RETURNING 1
), cur AS (
	SELECT tx, seq FROM r WHERE passed ORDER BY tx DESC, seq DESC LIMIT 1
), mv AS (
	UPDATE ` + groups + ` SET cur_tx = cur.tx, cur_seq = cur.seq FROM cur WHERE id = $1 RETURNING 1
)
SELECT s.scanned, c.seq, c.idx, c.mask, c.body FROM (SELECT count(*) AS scanned FROM r0) s LEFT JOIN (
	SELECT ins.tx, ins.seq, ins.idx, ins.mask, m.body FROM async, ins JOIN ` + t + ` m ON m.tx = ins.tx AND m.seq = ins.seq
	WHERE ins.idx <= -2
) c ON true ORDER BY c.tx, c.seq`
}

// packLimits are the limits of packs a claim of new messages reads, one
// statement each: the smallest one that holds a claim's messages, one a
// pack at least.
var packLimits = [...]int{16, 64, 256, 1024}

// packLimit returns the index in packLimits for a claim of n messages.
func packLimit(n int) int {
	for i, l := range packLimits {
		if n <= l {
			return i
		}
	}
	return len(packLimits) - 1
}

// insertPacks returns SQLite's INSERT of n packs (4 parameters each).
func insertPacks(t string, n int) string {
	return `INSERT INTO ` + t + ` (n, types, body, created_at) VALUES ` + valueRows(n, 4)
}

// insertDeliveries returns SQLite's INSERT of n deliveries (8 parameters
// each).
func insertDeliveries(t string, n int) string {
	return `INSERT INTO ` + t + `_deliveries (group_id, seq, idx, tx, attempts, visible_at, mask, n) VALUES ` + valueRows(n, 8)
}

// valueRows returns "($1, ..., $k), ($k+1, ...)" for n rows of k
// parameters.
func valueRows(n, k int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range k {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(i*k + j + 1))
		}
		b.WriteByte(')')
	}
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
