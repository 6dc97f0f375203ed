package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-microkit/microkit/eventbus"
	"github.com/go-microkit/microkit/internal/sqldb"
	"github.com/go-microkit/microkit/retry"
	"github.com/go-microkit/microkit/sqldialect"
)

// Waker wakes an idle relay when events may have been added, so that it
// publishes them before its poll interval ends: Signal in the producer's
// process, and package pgnotify's Listener on PostgreSQL's LISTEN/NOTIFY,
// which hears the producers of every process (their pgnotify.Notifier).
type Waker interface {
	// Wait blocks until events may have been added (it may return early,
	// spuriously) or ctx ends. An error other than ctx's makes the relay
	// fall back to polling for a while.
	Wait(ctx context.Context) error
}

// Relay publishes the events of an outbox table and marks them sent. It is
// safe for concurrent use: Run may be called once at a time, RelayOnce any
// time. On PostgreSQL any number of relays (in one process or many) may
// serve one table: one publishes at a time (each round takes an advisory
// lock named after the table, and locks its rows with FOR UPDATE SKIP
// LOCKED), the others stand by and take over within a poll interval, so
// an event is published by one relay and each subject stays in order. On
// SQLite run one relay per database.
//
// A relay stopped in the middle of a round (Run's context ends, as when a
// service closes) finishes recording what the round published: its events
// are marked sent, and the next relay does not publish them again.
type Relay struct {
	db      *sql.DB
	dialect sqldialect.Dialect
	pub     eventbus.Publisher
	cfg     config

	mu        sync.Mutex
	running   bool
	lastPrune time.Time
}

// NewRelay returns a relay that publishes the events of db's outbox table
// through pub. Options: WithTable, WithBatchSize, WithPollInterval,
// WithMaxBackoff, WithPublishTimeout, WithRetention, WithWaker, WithLogger,
// WithListener.
func NewRelay(db *sql.DB, dialect sqldialect.Dialect, pub eventbus.Publisher, opts ...Option) (*Relay, error) {
	if db == nil || pub == nil {
		return nil, fmt.Errorf("outbox: new relay: %w", invalid("nil database or publisher"))
	}
	if err := checkDialect(dialect); err != nil {
		return nil, fmt.Errorf("outbox: new relay: %w", err)
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("outbox: new relay: %w", err)
	}
	return &Relay{db: db, dialect: dialect, pub: pub, cfg: c}, nil
}

// ErrRunning is returned by Run when the relay already runs.
var ErrRunning = errors.New("outbox: relay already running")

// firstRetry is the pause after the first failed round of a run of
// failures; it doubles with each further failure up to the max backoff.
// Short, because most outages (a database failover, a broker restart) end
// within a second or two, and the relay should follow at once.
const firstRetry = 100 * time.Millisecond

// retryPause returns the pause after the n-th consecutive failure (n >= 1):
// firstRetry doubled n-1 times, at most ceiling. It has no jitter: one
// relay runs per table, so there is no crowd of relays to spread.
func retryPause(n int, ceiling time.Duration) time.Duration {
	return retry.Backoff{Initial: min(firstRetry, ceiling), Max: ceiling, Jitter: retry.NoJitter}.Delay(n)
}

// Run publishes events until ctx ends, then returns nil once its round in
// progress and its waker goroutine are done. A round whose publish
// returned when ctx ends still marks its events sent (under ctx's values
// without its cancellation, for up to a few seconds), and no new round
// starts; a publish that ctx interrupts is not recorded, and its events,
// some of which the broker may have taken, are published again by the
// next relay (at-least-once, as after a crash).
//
// It polls every poll interval, at once after a full batch, when the
// Waker wakes it, and at the due time of the earliest scheduled event (see
// AddAt), which it reads after each round that leaves nothing due.
//
// After a failed round (database or broker down) it pauses, 100ms after
// the first failure and twice as long after each further one, up to the
// max backoff (1s by default), so that it resumes within that of the
// outage's end; during the pause it pings the database, and resumes at
// once when a database that did not answer answers again. The pause grows
// per failed round only: wake-ups during it
// neither shorten nor lengthen it (a burst of notifications while the
// broker is down must not turn into a burst of failing rounds). Each
// failure is logged with the pause that follows it, and the first
// successful round after failures is logged too.
//
// It prunes sent events on the retention schedule.
func (r *Relay) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return ErrRunning
	}
	r.running = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()
	ctx, cancel := context.WithCancel(ctx)
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	if r.cfg.wakeup != nil {
		wg.Go(func() { r.listen(ctx, wake) })
	}
	defer wg.Wait()
	defer cancel()

	failures := 0
	for ctx.Err() == nil {
		start := time.Now()
		n, next, err := r.round(ctx)
		if err == nil {
			err = r.prune(ctx)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			failures++
			pause := retryPause(failures, r.cfg.maxBackoff)
			r.cfg.logger.Warn("outbox: relay round failed", "table", r.cfg.table, "error", err,
				"failures", failures, "retry_in", pause)
			if early := r.pauseAfterFailure(ctx, pause); early > 0 {
				r.cfg.logger.Info("outbox: database answers again, retrying early", "table", r.cfg.table, "after", early)
			}
			continue
		}
		if failures > 0 {
			r.cfg.logger.Info("outbox: relay recovered", "table", r.cfg.table, "failures", failures)
			failures = 0
		}
		if n == r.cfg.batchSize {
			continue // more are waiting
		}
		wait, err := r.cfg.pollInterval, error(nil)
		switch {
		case next.read && next.at > 0:
			wait = min(wait, time.Until(time.Unix(0, next.at)))
		case !next.read:
			wait, err = r.untilNextDue(ctx, start)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The next round fails the same way, if the database is
			// down, and backs off then.
			r.cfg.logger.Warn("outbox: relay: reading the next due time failed", "table", r.cfg.table, "error", err)
		}
		sleep(ctx, wait, wake)
	}
	return nil
}

// untilNextDue returns how long an idle relay on SQLite sleeps (on
// PostgreSQL the round's own statement reads the next due time): until the earliest
// due time after since (when the round began, before its own reading of
// the time: an event that fell due during the round is found here, and
// published at once) of the unsent events, or for the poll interval if
// that is sooner or none is scheduled. It reads one entry of the index of
// due events.
func (r *Relay) untilNextDue(ctx context.Context, since time.Time) (time.Duration, error) {
	var next sql.NullInt64
	err := r.db.QueryRowContext(ctx, nextDueQuery(r.cfg.table), since.UnixNano()).Scan(&next)
	if err != nil {
		return r.cfg.pollInterval, fmt.Errorf("outbox: relay: next due time: %w", err)
	}
	if !next.Valid {
		return r.cfg.pollInterval, nil
	}
	return min(r.cfg.pollInterval, time.Until(time.Unix(0, next.Int64))), nil
}

// pauseAfterFailure waits pause after a failed round, or until ctx ends.
// Meanwhile it pings the database every firstRetry, and if the database did
// not answer and then answers, the pause ends there: the relay resumes as
// soon as the store is back, not up to a max backoff later. A database that
// answers the first ping (the broker or a query failed) is not pinged again.
// It returns how long it waited if it ended early, else 0.
func (r *Relay) pauseAfterFailure(ctx context.Context, pause time.Duration) time.Duration {
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, pause)
	defer cancel()
	down := false
	for {
		err := r.db.PingContext(pctx)
		switch {
		case pctx.Err() != nil:
			return 0
		case err != nil:
			down = true
		case down:
			return time.Since(start)
		default:
			<-pctx.Done()
			return 0
		}
		sleep(pctx, firstRetry, nil)
	}
}

// sleep waits for d, or until ctx ends or wake receives.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-wake:
	}
}

// listen turns the waker's wake-ups into sends on wake until ctx ends. A
// failing waker is retried on the schedule of failed rounds.
func (r *Relay) listen(ctx context.Context, wake chan<- struct{}) {
	failures := 0
	for ctx.Err() == nil {
		if err := r.cfg.wakeup.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			pause := retryPause(failures, r.cfg.maxBackoff)
			r.cfg.logger.Warn("outbox: waker failed; polling meanwhile", "error", err, "failures", failures, "retry_in", pause)
			sleep(ctx, pause, nil)
			continue
		}
		failures = 0
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// row is one unsent event.
type row struct {
	seq      int64
	subject  string
	dueAt    int64
	envelope []byte
}

// RelayOnce publishes one batch of the unsent events that are due, and
// marks them sent, returning how many it published. It takes them in the
// order (due time, order of addition), where the events of Add are due at
// 0 and scheduled ones (AddAt) at their time: first the events of Add in
// the order they were added, then the scheduled events due by now in the
// order of their due times. Events scheduled later are not read. Events
// whose Subject has an earlier due event held by another relay wait for a
// later round, so that each subject keeps that order. If
// the publish fails, the events stay unsent with the attempt counted and
// the error recorded, and the error is returned. Once the publish
// returned, marking the events sent does not depend on ctx: a ctx that
// ends then does not leave published events unmarked. The relay's
// listeners learn of a round that published events or failed.
func (r *Relay) RelayOnce(ctx context.Context) (int, error) {
	n, _, err := r.round(ctx)
	return n, err
}

// nextDue is the earliest due time (Unix nanoseconds) of the events
// scheduled after a round's reading of the time, as the round read it:
// at is 0 when none is; read is false when the round did not read it.
type nextDue struct {
	at   int64
	read bool
}

// round is RelayOnce, which also returns the next due time when the round
// read it.
func (r *Relay) round(ctx context.Context) (int, nextDue, error) {
	if len(r.cfg.listeners) == 0 {
		return r.relayOnce(ctx) // no clock read, no event: a relay without listeners pays nothing
	}
	start := time.Now()
	n, next, err := r.relayOnce(ctx)
	switch d := time.Since(start); {
	case err != nil:
		r.emit(ctx, Event{Kind: EventRelayFailed, Table: r.cfg.table, Duration: d, Err: err})
	case n > 0:
		r.emit(ctx, Event{Kind: EventRelayed, Table: r.cfg.table, Events: n, Duration: d})
	}
	return n, next, err
}

func (r *Relay) relayOnce(ctx context.Context) (int, nextDue, error) {
	if r.dialect == sqldialect.SQLite {
		// SQLite has one writer and one relay: read without holding a
		// transaction open across the publish, which would block writers.
		rows, err := r.fetch(ctx, r.db, time.Now(), "")
		if err != nil {
			return 0, nextDue{}, err
		}
		n, err := r.publishAndMark(ctx, r.db, rows)
		return n, nextDue{}, err
	}
	// The transaction does not end with ctx: database/sql rolls a
	// transaction back when its context ends, which would undo the marks
	// of a round that published before Run was stopped. The statements
	// before the publish run under ctx, so a stop interrupts them; those
	// after it record what was published and finish (see publishAndMark).
	tx, release, err := sqldb.BeginDetached(ctx, r.db)
	if err != nil {
		return 0, nextDue{}, fmt.Errorf("outbox: relay: %w", err)
	}
	defer release()
	defer func() { _ = tx.Rollback() }()
	// One relay publishes from a table at a time: it holds a
	// transaction-scoped advisory lock keyed by (outbox relays, schema and
	// table), so services whose outboxes share a database but not a schema
	// never wait for each other. A relay that cannot take the lock returns
	// with nothing published. Row locks alone keep two relays from
	// publishing one row, but not from publishing two rows of one subject
	// out of order when their transactions interleave; the other relays
	// stand by and take over within a poll interval when the active one
	// stops or its connection drops. The lock, the batch and the next due
	// time are one statement: a round trip, not three.
	now := time.Now()
	active, rows, next, err := r.lockAndFetch(ctx, tx, now)
	if err != nil || !active {
		return 0, next, err
	}
	if rows, err = r.heads(ctx, tx, now, rows); err != nil {
		return 0, next, err
	}
	n, perr := r.publishAndMark(ctx, tx, rows)
	if len(rows) == 0 {
		return n, next, perr // nothing to commit: the deferred rollback ends it
	}
	if err := tx.Commit(); err != nil {
		return 0, next, fmt.Errorf("outbox: relay: commit: %w", err)
	}
	return n, next, perr
}

// lockAndFetchQuery takes the advisory lock that lets one relay at a time
// publish from the table in the current schema (named by $3), and if it got
// it, locks and reads the batch ($1 rows) of the events due by $2 in
// publishing order; it also reads the earliest due time after $2. It
// returns one row without an event (NULL columns) when the batch is empty
// or the lock is another relay's, else a row per event.
func lockAndFetchQuery(table string) string {
	return "WITH l AS (SELECT pg_try_advisory_xact_lock(hashtext('microkit.outbox.relay'), hashtext(current_schema() || '.' || $3)) AS ok)," +
		" d AS (SELECT seq, subject, due_at, envelope FROM " + table +
		" WHERE sent_at IS NULL AND due_at <= $2 AND (SELECT ok FROM l) ORDER BY due_at, seq LIMIT $1 FOR UPDATE SKIP LOCKED)" +
		" SELECT l.ok, (SELECT MIN(due_at) FROM " + table + " WHERE sent_at IS NULL AND due_at > $2), d.seq, d.subject, d.due_at, d.envelope" +
		" FROM l LEFT JOIN d ON true ORDER BY d.due_at, d.seq"
}

// lockAndFetch runs lockAndFetchQuery in tx: whether this relay is the
// active one, the batch due by now if it is, and the next due time after
// now.
func (r *Relay) lockAndFetch(ctx context.Context, tx *sql.Tx, now time.Time) (active bool, rows []row, next nextDue, err error) {
	rs, err := tx.QueryContext(ctx, lockAndFetchQuery(r.cfg.table), r.cfg.batchSize, now.UnixNano(), r.cfg.table)
	if err != nil {
		return false, nil, next, fmt.Errorf("outbox: relay: select: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var (
			nextAt, seq, dueAt sql.NullInt64
			subject            sql.NullString
			envelope           []byte
		)
		if err := rs.Scan(&active, &nextAt, &seq, &subject, &dueAt, &envelope); err != nil {
			return false, nil, next, fmt.Errorf("outbox: relay: scan: %w", err)
		}
		next = nextDue{at: nextAt.Int64, read: true}
		if seq.Valid {
			rows = append(rows, row{seq: seq.Int64, subject: subject.String, dueAt: dueAt.Int64, envelope: envelope})
		}
	}
	if err := rs.Err(); err != nil {
		return false, nil, nextDue{}, fmt.Errorf("outbox: relay: select: %w", err)
	}
	return active, rows, next, nil
}

// querier is *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// dueQuery selects the batch ($1 rows) of the events of table due by $2,
// in publishing order: a range of the index <table>_due from its start.
func dueQuery(table string) string {
	return "SELECT seq, subject, due_at, envelope FROM " + table +
		" WHERE sent_at IS NULL AND due_at <= $2 ORDER BY due_at, seq LIMIT $1"
}

// nextDueQuery selects the earliest due time after $1 of table's events:
// one entry of the index <table>_due.
func nextDueQuery(table string) string {
	return "SELECT MIN(due_at) FROM " + table + " WHERE sent_at IS NULL AND due_at > $1"
}

// fetch reads a batch of the events due by now, in publishing order,
// through the index on (due_at, seq) of unsent events.
func (r *Relay) fetch(ctx context.Context, q querier, now time.Time, lock string) ([]row, error) {
	rs, err := q.QueryContext(ctx, dueQuery(r.cfg.table)+lock, r.cfg.batchSize, now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("outbox: relay: select: %w", err)
	}
	defer rs.Close()
	var rows []row
	for rs.Next() {
		var w row
		if err := rs.Scan(&w.seq, &w.subject, &w.dueAt, &w.envelope); err != nil {
			return nil, fmt.Errorf("outbox: relay: scan: %w", err)
		}
		rows = append(rows, w)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("outbox: relay: select: %w", err)
	}
	return rows, nil
}

// heads drops the rows of every subject that has a due unsent event
// before its first row in rows, in publishing order (due_at, seq): another
// relay holds it, and publishing ours first would reorder the subject.
// Events scheduled after now do not count: they hold nothing back.
func (r *Relay) heads(ctx context.Context, q querier, now time.Time, rows []row) ([]row, error) {
	first := make(map[string]row)
	var firsts []row
	for _, w := range rows {
		if _, ok := first[w.subject]; !ok && w.subject != "" {
			first[w.subject] = w
			firsts = append(firsts, w)
		}
	}
	if len(firsts) == 0 {
		return rows, nil
	}
	args := make([]any, 1, 1+3*len(firsts))
	args[0] = now.UnixNano()
	var values strings.Builder
	for i, w := range firsts {
		if i > 0 {
			values.WriteString(", ")
		}
		n := len(args) + 1
		fmt.Fprintf(&values, "($%d::text, $%d::bigint, $%d::bigint)", n, n+1, n+2)
		args = append(args, w.subject, w.dueAt, w.seq)
	}
	rs, err := q.QueryContext(ctx, "SELECT DISTINCT o.subject FROM "+r.cfg.table+" o JOIN (VALUES "+values.String()+
		") AS f (subject, due_at, seq) ON o.subject = f.subject"+
		" WHERE o.sent_at IS NULL AND o.due_at <= $1 AND (o.due_at < f.due_at OR (o.due_at = f.due_at AND o.seq < f.seq))", args...)
	if err != nil {
		return nil, fmt.Errorf("outbox: relay: heads: %w", err)
	}
	defer rs.Close()
	blocked := make(map[string]bool)
	for rs.Next() {
		var s string
		if err := rs.Scan(&s); err != nil {
			return nil, fmt.Errorf("outbox: relay: heads: %w", err)
		}
		blocked[s] = true
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("outbox: relay: heads: %w", err)
	}
	if len(blocked) == 0 {
		return rows, nil
	}
	kept := rows[:0]
	for _, w := range rows {
		if !blocked[w.subject] {
			kept = append(kept, w)
		}
	}
	return kept, nil
}

// recordTimeout bounds the recording of a publish (the rows marked sent,
// or the failure recorded on them), which runs even when ctx ends
// meanwhile: events published but not marked would be published again by
// the next relay.
const recordTimeout = 5 * time.Second

// publishAndMark publishes rows in order and marks them sent, or records
// the failure on them. Once the publish returned, the recording runs
// under ctx without its cancellation, bounded by recordTimeout; a publish
// that failed because ctx ended (Run stopping) records nothing: it is no
// failure of its events.
func (r *Relay) publishAndMark(ctx context.Context, q querier, rows []row) (int, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	msgs := make([]*eventbus.Message, 0, len(rows))
	seqs := make([]any, 0, len(rows)+1)
	seqs = append(seqs, nil) // $1 is the time or the error
	for _, w := range rows {
		m, err := eventbus.Unmarshal(w.envelope)
		if err != nil {
			// Add only stores what Marshal wrote; a row that does not decode
			// was written by hand. Leave it unsent for a human.
			return 0, fmt.Errorf("outbox: relay: event seq %d: %w", w.seq, err)
		}
		msgs = append(msgs, m)
		seqs = append(seqs, w.seq)
	}
	in := " WHERE seq IN (" + params(2, len(rows)) + ")"
	pctx, cancel := context.WithTimeout(ctx, r.cfg.publishWait)
	perr := r.pub.Publish(pctx, msgs...)
	cancel()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if perr != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("outbox: relay: publish: %w", perr)
		}
		seqs[0] = truncate(perr.Error(), 1000)
		if _, err := q.ExecContext(rctx, "UPDATE "+r.cfg.table+" SET attempts = attempts + 1, last_error = $1"+in, seqs...); err != nil {
			return 0, fmt.Errorf("outbox: relay: publish: %w (and recording it: %v)", perr, err)
		}
		return 0, fmt.Errorf("outbox: relay: publish: %w", perr)
	}
	seqs[0] = time.Now().UnixNano()
	if _, err := q.ExecContext(rctx, "UPDATE "+r.cfg.table+" SET sent_at = $1"+in, seqs...); err != nil {
		return 0, fmt.Errorf("outbox: relay: mark sent: %w", err)
	}
	return len(rows), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// prune deletes sent events older than the retention, at most once per
// prune interval.
func (r *Relay) prune(ctx context.Context) error {
	if r.cfg.pruneInterval == 0 {
		return nil
	}
	now := time.Now()
	r.mu.Lock()
	due := now.Sub(r.lastPrune) >= r.cfg.pruneInterval
	if due {
		r.lastPrune = now
	}
	r.mu.Unlock()
	if !due {
		return nil
	}
	_, err := r.Prune(ctx)
	return err
}

// Prune deletes the events sent before the retention period and returns
// how many it deleted; if it deleted any, the relay's listeners learn of
// it. Run calls it on the retention schedule.
func (r *Relay) Prune(ctx context.Context) (int64, error) {
	cutoff := time.Now().Add(-r.cfg.retention).UnixNano()
	res, err := r.db.ExecContext(ctx, "DELETE FROM "+r.cfg.table+" WHERE sent_at IS NOT NULL AND sent_at < $1", cutoff)
	if err != nil {
		return 0, fmt.Errorf("outbox: prune: %w", err)
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		r.emit(ctx, Event{Kind: EventPruned, Table: r.cfg.table, Events: int(n)})
	}
	return n, nil
}
