package saga

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// MemoryStore is a [Store], [TxStore] and [WaitStore] that keeps records
// (and signals) in memory. It survives no
// process restart, so it suits tests, benchmarks and sagas whose loss on a
// crash is acceptable. The zero value is ready to use, and it is safe for
// concurrent use.
type MemoryStore struct {
	// DropFinished removes a record as soon as it is Completed or
	// Compensated, so that a long-lived process's memory stays bounded.
	// Records that need a human (CompensationFailed) are kept. The zero
	// value keeps every record; then the store grows with every saga, and
	// WithID refuses the ID of a finished saga as well as of a running one.
	DropFinished bool

	mu      sync.Mutex
	records map[string]*Record
	free    []*Record          // dropped records, reused with their buffers by Create
	signals map[string]*Signal // by key
	// byKey indexes the records that have a WaitKey, by it: Signal looks
	// a key up, and must not scan every record to do it.
	byKey map[string]map[string]*Record
}

// maxFree bounds the dropped records kept for reuse.
const maxFree = 64

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Create implements [Store]. With a ctx from [MemoryStore.InTx], the
// record is staged in that transaction.
func (m *MemoryStore) Create(ctx context.Context, r *Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("saga: memory store: create: %w", err)
	}
	if tx := m.txFrom(ctx); tx != nil {
		return tx.stage(r, true)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(r, true, m.version); err != nil {
		return err
	}
	m.create(r)
	r.Version = 1
	return nil
}

// create stores r, which check accepted.
func (m *MemoryStore) create(r *Record) {
	if m.DropFinished && (r.Status == StatusCompleted || r.Status == StatusCompensated) {
		return // created finished: a saga whose one Local step completed it in its first write
	}
	if m.records == nil {
		m.records = make(map[string]*Record)
	}
	var stored *Record
	if n := len(m.free); n > 0 {
		stored, m.free = m.free[n-1], m.free[:n-1]
	} else {
		stored = new(Record)
	}
	state, steps := stored.State, stored.Steps
	*stored = *r
	stored.State = append(state[:0], r.State...)
	stored.Steps = append(steps[:0], r.Steps...)
	stored.Version = 1
	m.records[r.ID] = stored
	m.index(stored, "")
}

// Update implements [Store]. It copies r into the stored record's own
// buffers, so a steady stream of updates does not allocate. With a ctx
// from [MemoryStore.InTx], the update is staged in that transaction.
func (m *MemoryStore) Update(ctx context.Context, r *Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("saga: memory store: update: %w", err)
	}
	if tx := m.txFrom(ctx); tx != nil {
		return tx.stage(r, false)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(r, false, m.version); err != nil {
		return err
	}
	m.update(r)
	r.Version++
	return nil
}

// update stores r over the record of its ID, which check accepted.
func (m *MemoryStore) update(r *Record) {
	stored := m.records[r.ID]
	oldKey := stored.WaitKey
	if m.DropFinished && (r.Status == StatusCompleted || r.Status == StatusCompensated) {
		stored.WaitKey = ""
		m.index(stored, oldKey)
		delete(m.records, r.ID)
		if len(m.free) < maxFree {
			m.free = append(m.free, stored)
		}
		return
	}
	state, steps := stored.State, stored.Steps
	*stored = *r
	stored.State = append(state[:0], r.State...)
	stored.Steps = append(steps[:0], r.Steps...)
	stored.Version = r.Version + 1
	m.index(stored, oldKey)
}

// index moves stored in byKey from the key it had, old, to its WaitKey.
func (m *MemoryStore) index(stored *Record, old string) {
	if old == stored.WaitKey {
		return
	}
	if ids := m.byKey[old]; old != "" {
		delete(ids, stored.ID)
		if len(ids) == 0 {
			delete(m.byKey, old)
		}
	}
	if k := stored.WaitKey; k != "" {
		if m.byKey == nil {
			m.byKey = make(map[string]map[string]*Record)
		}
		if m.byKey[k] == nil {
			m.byKey[k] = make(map[string]*Record, 1)
		}
		m.byKey[k][stored.ID] = stored
	}
}

// version returns the stored version of the record id, or false.
func (m *MemoryStore) version(id string) (int64, bool) {
	stored, ok := m.records[id]
	if !ok {
		return 0, false
	}
	return stored.Version, true
}

// check returns the error of creating (or updating) r where version tells
// the current version of each record.
func (m *MemoryStore) check(r *Record, create bool, version func(id string) (int64, bool)) error {
	v, ok := version(r.ID)
	switch {
	case create && ok:
		return fmt.Errorf("saga: memory store: create %q: %w", r.ID, ErrDuplicate)
	case create:
		return nil
	case !ok:
		return fmt.Errorf("saga: memory store: update %q: %w", r.ID, ErrNotFound)
	case v != r.Version:
		return fmt.Errorf("saga: memory store: update %q at version %d (stored %d): %w", r.ID, r.Version, v, ErrConflict)
	}
	return nil
}

// memTxKey is the context key of a MemoryStore transaction.
type memTxKey struct{}

// memTx is a MemoryStore transaction: the writes staged, in order, each a
// copy of the record as written (its version the one compared).
type memTx struct {
	m      *MemoryStore
	writes []memWrite
	takes  []memTake // TakeSignal calls, applied at the commit
}

// memTake is a signal's take staged in a transaction.
type memTake struct{ key, sagaID string }

type memWrite struct {
	r      *Record
	create bool
}

// InTx implements [TxStore]: Create, Update and TakeSignal with the ctx
// fn receives are staged, checked against the store and the writes staged
// before them, then applied at once when fn returns nil, checked again;
// when fn returns an error they are discarded. Get with that ctx
// sees the staged writes; List does not. A nested InTx joins the outer
// transaction.
func (m *MemoryStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if m.txFrom(ctx) != nil {
		return fn(ctx)
	}
	tx := &memTx{m: m}
	if err := fn(context.WithValue(ctx, memTxKey{}, tx)); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("saga: memory store: commit: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Each write is checked again as if the earlier ones were applied.
	version := func(id string) (int64, bool) { return m.version(id) }
	var staged map[string]int64
	if len(tx.writes) > 1 {
		staged = make(map[string]int64, len(tx.writes))
		version = func(id string) (int64, bool) {
			if v, ok := staged[id]; ok {
				return v, true
			}
			return m.version(id)
		}
	}
	for _, t := range tx.takes {
		if err := m.checkTake(t.key, t.sagaID); err != nil {
			return fmt.Errorf("saga: memory store: commit: %w", err)
		}
	}
	for _, w := range tx.writes {
		if err := m.check(w.r, w.create, version); err != nil {
			return fmt.Errorf("saga: memory store: commit: %w", err)
		}
		if staged != nil {
			staged[w.r.ID] = w.r.Version + 1
			if w.create {
				staged[w.r.ID] = 1
			}
		}
	}
	for _, w := range tx.writes {
		if w.create {
			m.create(w.r)
		} else {
			m.update(w.r)
		}
	}
	for _, t := range tx.takes {
		if stored, ok := m.signals[t.key]; ok {
			stored.SagaID = t.sagaID
		}
	}
	return nil
}

// txFrom returns m's transaction in ctx, or nil.
func (m *MemoryStore) txFrom(ctx context.Context) *memTx {
	if tx, ok := ctx.Value(memTxKey{}).(*memTx); ok && tx.m == m {
		return tx
	}
	return nil
}

// stage checks a write against the store and the writes staged before it,
// then stages a copy.
func (tx *memTx) stage(r *Record, create bool) error {
	tx.m.mu.Lock()
	err := tx.m.check(r, create, tx.version)
	tx.m.mu.Unlock()
	if err != nil {
		return err
	}
	c := r.Clone()
	if create {
		c.Version = 0
		r.Version = 1
	} else {
		r.Version++
	}
	tx.writes = append(tx.writes, memWrite{r: c, create: create})
	return nil
}

// version returns the version of the record id as the transaction sees
// it; called under m.mu.
func (tx *memTx) version(id string) (int64, bool) {
	if w := tx.last(id); w != nil {
		if w.create {
			return 1, true
		}
		return w.r.Version + 1, true
	}
	return tx.m.version(id)
}

// last returns the last write staged for id, or nil.
func (tx *memTx) last(id string) *memWrite {
	for k := len(tx.writes) - 1; k >= 0; k-- {
		if tx.writes[k].r.ID == id {
			return &tx.writes[k]
		}
	}
	return nil
}

// Get implements [Store].
func (m *MemoryStore) Get(ctx context.Context, id string) (*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("saga: memory store: get: %w", err)
	}
	if tx := m.txFrom(ctx); tx != nil {
		if w := tx.last(id); w != nil {
			c := w.r.Clone()
			c.Version++
			if w.create {
				c.Version = 1
			}
			return c, nil
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, ok := m.records[id]
	if !ok {
		return nil, fmt.Errorf("saga: memory store: get %q: %w", id, ErrNotFound)
	}
	return stored.Clone(), nil
}

// List implements [Store]. It reads every record (but with a WaitKey,
// only those waiting on it): a MemoryStore holds what fits in memory,
// where that is fast enough for an operator's listing and for the timer
// loop's look for due sagas.
func (m *MemoryStore) List(ctx context.Context, f Filter) ([]*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("saga: memory store: list: %w", err)
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("saga: memory store: list: %w", err)
	}
	type listed struct {
		r  *Record
		at Cursor
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	matched := make([]listed, 0)
	records := m.records
	if f.WaitKey != "" {
		records = m.byKey[f.WaitKey]
	}
	for _, r := range records {
		if f.Signalled && !m.pending(r.WaitKey) {
			continue
		}
		if at := r.Cursor(); f.keeps(r, at) {
			matched = append(matched, listed{r, at})
		}
	}
	slices.SortFunc(matched, func(a, b listed) int {
		if f.Newest {
			return b.at.compare(a.at)
		}
		return a.at.compare(b.at)
	})
	if f.Limit > 0 && len(matched) > f.Limit {
		matched = matched[:f.Limit]
	}
	out := make([]*Record, len(matched))
	for i, l := range matched {
		out[i] = l.r.Clone()
	}
	return out, nil
}

// PutSignal implements [WaitStore].
func (m *MemoryStore) PutSignal(ctx context.Context, sig *Signal) (*Signal, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("saga: memory store: put signal: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if stored, ok := m.signals[sig.Key]; ok {
		return stored.clone(), false, nil
	}
	if m.signals == nil {
		m.signals = make(map[string]*Signal)
	}
	stored := sig.clone()
	m.signals[sig.Key] = stored
	return stored.clone(), true, nil
}

// GetSignal implements [WaitStore].
func (m *MemoryStore) GetSignal(ctx context.Context, key string) (*Signal, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("saga: memory store: get signal: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, ok := m.signals[key]
	if !ok {
		return nil, fmt.Errorf("saga: memory store: get signal %q: %w", key, ErrNotFound)
	}
	return stored.clone(), nil
}

// TakeSignal implements [WaitStore].
func (m *MemoryStore) TakeSignal(ctx context.Context, key, sagaID string) (*Signal, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("saga: memory store: take signal: %w", err)
	}
	tx := m.txFrom(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkTake(key, sagaID); err != nil {
		return nil, fmt.Errorf("saga: memory store: %w", err)
	}
	c := m.signals[key].clone()
	c.SagaID = sagaID
	if tx != nil { // taken at the commit, as the transaction's writes
		tx.takes = append(tx.takes, memTake{key: key, sagaID: sagaID})
		return c, nil
	}
	m.signals[key].SagaID = sagaID
	return c, nil
}

// checkTake tells whether the saga sagaID can take the signal of key;
// called under m.mu.
func (m *MemoryStore) checkTake(key, sagaID string) error {
	stored, ok := m.signals[key]
	switch {
	case !ok:
		return fmt.Errorf("take signal %q: %w", key, ErrNotFound)
	case stored.SagaID != "" && stored.SagaID != sagaID:
		return fmt.Errorf("take signal %q: taken by %s: %w", key, stored.SagaID, ErrConflict)
	}
	return nil
}

// NextWake implements [WaitStore]. It reads every record, as List does.
func (m *MemoryStore) NextWake(ctx context.Context) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, fmt.Errorf("saga: memory store: next wake: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	for _, r := range m.records {
		if !r.WakeAt.IsZero() && (next.IsZero() || r.WakeAt.Before(next)) {
			next = r.WakeAt
		}
	}
	return next, nil
}

// PruneSignals implements [WaitStore].
func (m *MemoryStore) PruneSignals(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("saga: memory store: prune signals: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for key, sig := range m.signals {
		if sig.CreatedAt.Before(before) {
			delete(m.signals, key)
			n++
		}
	}
	return n, nil
}

// pending reports whether key has a signal that no saga took; under m.mu.
func (m *MemoryStore) pending(key string) bool {
	sig, ok := m.signals[key]
	return key != "" && ok && sig.SagaID == "" && !sig.TimedOut
}

// clone returns a deep copy of s.
func (s *Signal) clone() *Signal {
	c := *s
	c.Payload = append([]byte(nil), s.Payload...)
	return &c
}
