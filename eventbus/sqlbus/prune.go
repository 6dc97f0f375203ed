package sqlbus

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-microkit/microkit/sqldialect"
)

// pruneLoop prunes every pruneEvery until the bus closes.
func (b *Bus) pruneLoop() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for b.sleep(b.cfg.pruneEvery) {
		if n, err := b.Prune(ctx); err != nil && ctx.Err() == nil {
			b.cfg.logger.Warn("sqlbus: prune failed", "error", err)
		} else if n > 0 {
			b.cfg.logger.Debug("sqlbus: pruned", "messages", n)
		}
	}
}

// Prune deletes the messages that every group consumed and that are older
// than the retention's keep (see WithRetention), and, with WithMaxAge,
// the messages older than the maximum age with their pending deliveries.
// It returns how many messages it deleted. The bus runs it every
// retention interval; call it yourself with pruning disabled. Several
// processes may prune at once.
func (b *Bus) Prune(ctx context.Context) (int64, error) {
	return b.prune(ctx, time.Now())
}

func (b *Bus) prune(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	if b.cfg.maxAge > 0 {
		for {
			n, full, err := b.pruneOld(ctx, now.Add(-b.cfg.maxAge).UnixNano())
			total += n
			if err != nil {
				return total, fmt.Errorf("sqlbus: prune: %w", err)
			}
			if !full {
				break
			}
		}
	}
	if _, err := b.db.ExecContext(ctx, b.stmts.pruneMarkers); err != nil {
		return total, fmt.Errorf("sqlbus: prune: %w", err)
	}
	cut := now.Add(-b.cfg.keep).UnixNano()
	for {
		packs, n, err := b.deleteCounting(ctx, b.db, b.stmts.pruneConsumed, cut)
		total += n
		if err != nil {
			return total, fmt.Errorf("sqlbus: prune: %w", err)
		}
		if len(packs) < pruneBatch {
			return total, nil
		}
	}
}

// deleteCounting runs a DELETE that returns the seq and message count of
// each pack it deleted.
func (b *Bus) deleteCounting(ctx context.Context, q querier, stmt string, args ...any) (seqs []int64, n int64, err error) {
	rows, err := q.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var seq, k int64
		if err := rows.Scan(&seq, &k); err != nil {
			return nil, 0, err
		}
		seqs, n = append(seqs, seq), n+k
	}
	return seqs, n, rows.Err()
}

// pruneOld deletes, among the pruneBatch oldest packs, those created
// before cut, then their deliveries, in one transaction, so that no
// delivery is left without its message. It reports whether it looked at
// a whole window (there may be more).
func (b *Bus) pruneOld(ctx context.Context, cut int64) (n int64, full bool, err error) {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, false, err
	}
	defer func() { _ = tx.Rollback() }()
	seqs, n, err := b.deleteCounting(ctx, tx, b.stmts.pruneOld, cut)
	if err != nil || len(seqs) == 0 {
		return 0, false, err
	}
	var list any = seqs
	if b.dialect != sqldialect.Postgres {
		j, err := json.Marshal(seqs)
		if err != nil {
			return 0, false, err
		}
		list = string(j)
	}
	if _, err := tx.ExecContext(ctx, b.stmts.pruneOldDeliveries, list); err != nil {
		return 0, false, err
	}
	return n, len(seqs) == pruneBatch, tx.Commit()
}

// DeleteGroup deletes the consumer group (group, pattern) and the
// deliveries waiting for it, so that retention can prune what only it had
// not consumed. Run it for a group that will not subscribe again: a group
// keeps its messages while no instance runs. Deleting a group that does
// not exist is not an error; subscribing again registers it anew, from
// the messages published after that.
func (b *Bus) DeleteGroup(ctx context.Context, group, pattern string) error {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlbus: delete group: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// Writes only, the group looked up in each: on SQLite a transaction
	// that reads first cannot always write.
	for _, stmt := range []string{b.stmts.deleteGroupRows, b.stmts.deleteGroup} {
		if _, err := tx.ExecContext(ctx, stmt, group, pattern); err != nil {
			return fmt.Errorf("sqlbus: delete group: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlbus: delete group: %w", err)
	}
	return nil
}
